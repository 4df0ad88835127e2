# shellcheck shell=sh disable=SC2154  # r: set by dn (dirname.sh)
# Needs dirname.sh. The read protocol of gather (`wizard.remote.reads`): one line per fact,
# a tag first. Nothing here follows a link where a file or directory is expected: `[ -L ]`
# first, and `stat` never dereferences. `read_file` and `read_dir` also report a link at any
# directory between TOP and the path, and then do not look at the path at all. What is not
# a readable regular file (or a directory) comes back as `problem EXPECTED KIND PATH`.
# Modes, owners and sizes come from one `stat` at the end (`stat_paths`); the files that
# `read_file N` found readable (it sets read_N) are read by one `cat` into one base64 line
# (`cat_files`), cut apart by those sizes.
path_kind() { if [ -L "$1" ]; then echo symlink; elif [ -d "$1" ]; then echo dir; elif [ -f "$1" ]; then echo file; else echo other; fi; }
links_above() { dn "$1"; a=$r; u=0; while [ "$a" != "$2" ] && [ "$a" != / ] && [ "$a" != . ]; do
       if [ -L "$a" ]; then printf 'problem dir symlink %s\n' "$a"; u=1; fi; dn "$a"; a=$r; done; return $u; }
read_file() { links_above "$2" "$3" || return 0; if [ -L "$2" ]; then printf 'problem file symlink %s\n' "$2";
      elif [ -f "$2" ] && [ -r "$2" ]; then printf 'file %s\n' "$2"; eval "read_$1=1";
      elif [ -e "$2" ]; then printf 'problem file %s %s\n' "$(path_kind "$2")" "$2"; else printf 'absent %s\n' "$2"; fi; }
read_dir() { links_above "$1" "$2" || return 0; if [ -L "$1" ]; then printf 'problem dir symlink %s\n' "$1";
      elif [ -d "$1" ]; then printf 'dir %s\n' "$1";
      elif [ -e "$1" ]; then printf 'problem dir %s %s\n' "$(path_kind "$1")" "$1"; else printf 'absent %s\n' "$1"; fi; }
stat_paths() { stat -c 'stat %a %U %G %s %Y %n' -- "$@" 2>/dev/null; return 0; }
cat_files() { [ $# -gt 0 ] || return 0; printf 'contents\n'; cat -- "$@" | base64 -w0; echo; }
owners_above() { dn "$1"; p=$r; while :; do
      if [ -L "$p" ] || [ -e "$p" ]; then printf 'above %s %s %s\n' "$(path_kind "$p")" "$(stat -c '%a %U' -- "$p")" "$p"; fi
      if [ "$p" = / ]; then break; fi; dn "$p"; p=$r; done; }
hash_file() { links_above "$1" "$2" || return 0; if [ -L "$1" ]; then printf 'problem file symlink %s\n' "$1";
      elif [ -f "$1" ] && [ -r "$1" ]; then printf 'hashed %s %s %s\n' "$(stat -c '%a %U %G' -- "$1")" "$(sha256sum < "$1" | cut -d' ' -f1)" "$1";
      elif [ -e "$1" ]; then printf 'problem file %s %s\n' "$(path_kind "$1")" "$1"; else printf 'absent %s\n' "$1"; fi; }
exists() { if [ -e "$1" ] || [ -L "$1" ]; then printf 'exists %s\n' "$1"; else printf 'absent %s\n' "$1"; fi; }
repository() { if [ -f "$1/config" ]; then printf 'repository %s\n' "$1"; fi; }
read_crontab() { t=$(mktemp) || return; if crontab -l >"$t" 2>/dev/null; then printf 'crontab %s\n' "$1"; base64 -w0 "$t"; echo;
      else printf 'no-crontab %s\n' "$1"; fi; rm -f "$t"; }
free_space() { p="$1"; while [ ! -e "$p" ]; do dn "$p"; p=$r; done; printf 'space %s %s\n' "$(df -Pk "$p" | awk 'NR==2 {print $4}')" "$1"; }
