# shellcheck shell=sh
# Needs read_paths.sh. What an existing Borg setup may have (`wizard.pipeline.existing_reads`
# decides which paths): `found_file PATH TOP` says whether to read a file (0) or not (1, and
# why: `found link|absent|unreadable PATH`; a directory there is listed); `found_dir DIR TOP`
# says `found dir DIR` and `found name PATH` per entry that is no directory, or why not;
# `found_contents PATHS...` stats them and sends their bytes as one base64 line.
found_file() { if ! links_above "$1" "$2" >/dev/null || [ -L "$1" ]; then printf 'found link %s\n' "$1"; return 1; fi
       if [ -d "$1" ]; then found_dir "$1" "$2"; return 1; fi
       if [ -f "$1" ] && [ -r "$1" ]; then printf 'found file %s\n' "$1"; return 0; fi
       if [ -e "$1" ]; then printf 'found unreadable %s\n' "$1"; else printf 'found absent %s\n' "$1"; fi; return 1; }
found_dir() { if ! links_above "$1" "$2" >/dev/null || [ -L "$1" ]; then printf 'found link %s\n' "$1"; return 1; fi
       if [ ! -e "$1" ]; then printf 'found absent %s\n' "$1"; return 1; fi
       if [ ! -d "$1" ] || [ ! -r "$1" ] || [ ! -x "$1" ]; then printf 'found unreadable %s\n' "$1"; return 1; fi
       printf 'found dir %s\n' "$1"
       for p in "$1"/*; do if [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; then printf 'found name %s\n' "$p"; fi; done; }
found_contents() { if [ $# -gt 0 ]; then stat_paths "$@"; fi; printf 'found-contents\n'; if [ $# -gt 0 ]; then cat -- "$@" | base64 -w0; fi; echo; }
