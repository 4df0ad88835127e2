# shellcheck shell=sh disable=SC2154  # r: set by dn (dirname.sh); dm: by the script that uses mk
# Needs dirname.sh. `linked P` refuses P; `no_links P TOP` refuses a link at P or any
# directory above it up to TOP (exclusive); `mk D` creates D and its missing parents with
# mode $dm; `not_a P WHAT` refuses what is at P. Refusals exit 75 (`scripts.STALE_EXIT`).
linked() { echo "$1 is a symbolic link; Borgkeep never writes through links — remove it and run again" >&2; exit 75; }
no_links() { a="$1"; while [ "$a" != "$2" ] && [ "$a" != / ] && [ "$a" != . ]; do
  if [ -L "$a" ]; then linked "$a"; fi; dn "$a"; a="$r"; done; }
mk() { if [ ! -d "$1" ]; then dn "$1"; mk "$r"; mkdir -m "$dm" -- "$1"; fi; }
not_a() {
  echo "$1 is not a $2; Borgkeep expects one there — remove it and run again" >&2
  exit 75
}
