# shellcheck shell=sh
# Needs read_paths.sh, read_found.sh.
# found_more.sh N FILE TOP (N times) DIRECTORY TOP ...
# A later round of `found_setup.sh`: the files discovery still needs, and the directories it
# still has to list (inputs off the front of "$@", what is to be read at its back).
files=$1
shift
left=$#
while [ "$left" -gt 0 ]; do
  path=$1 top=$2
  shift 2
  left=$((left - 2))
  if [ "$files" -gt 0 ]; then
    files=$((files - 1))
    if found_file "$path" "$top"; then set -- "$@" "$path"; fi
  else
    found_dir "$path" "$top" || true
  fi
done
found_contents "$@"
