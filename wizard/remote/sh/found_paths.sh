# shellcheck shell=sh
# Needs read_paths.sh, read_found.sh.
# found_paths.sh setup|more SKIP SUFFIX CRON_D UNIT_DIRECTORY VENDOR1 VENDOR2 N FILE TOP (N times) DIRECTORY TOP ...
# What an existing Borg setup may have (which paths: `wizard.pipeline.existing_reads`):
# each FILE; each DIRECTORY listed, and in round 2 (`setup`) its *.yaml, *.yml and *SUFFIX
# files but SKIP read, and then the files of CRON_D and the units of UNIT_DIRECTORY and of
# the package directories VENDOR1 and VENDOR2 (only one when they are the same) that
# mention borg, with the timers of those services (a later round, `more`, reads only what
# it names). The inputs are taken off the front of "$@" and what is to be read is put at
# its back, so that any name stays one word.
round=$1 skip=$2 suffix=$3 cron_d=$4 units=$5 vendor1=$6 vendor2=$7 files=$8
shift 8
left=$#
while [ "$left" -gt 0 ]; do
  path=$1 top=$2
  shift 2
  left=$((left - 2))
  if [ "$files" -gt 0 ]; then
    files=$((files - 1))
    if found_file "$path" "$top"; then set -- "$@" "$path"; fi
  elif [ "$round" = more ]; then
    found_dir "$path" "$top" || true
  elif found_dir "$path" "$top"; then
    for entry in "$path"/*.yaml "$path"/*.yml "$path"/*"$suffix"; do
      if [ "$entry" != "$skip" ] && { [ -e "$entry" ] || [ -L "$entry" ]; } && { [ ! -d "$entry" ] || [ -L "$entry" ]; } && found_file "$entry" "$top"; then set -- "$@" "$entry"; fi
    done
  fi
done
if [ "$round" = setup ]; then
  nl='
'
  real1=$(cd -- "$vendor1" 2>/dev/null && pwd -P) real2=$(cd -- "$vendor2" 2>/dev/null && pwd -P)
  if [ -z "$real2" ] || [ "$real1" = "$real2" ]; then vendor2=$vendor1; fi
  hits=$(grep -rlI -e borg -- "$cron_d" "$units" "$vendor1" 2>/dev/null
    if [ "$vendor2" != "$vendor1" ]; then grep -rlI -e borg -- "$vendor2" 2>/dev/null; fi)
  set -f
  IFS=$nl
  for job in $hits; do
    if found_file "$job" /; then set -- "$@" "$job"; fi
    case $job in *.service) timer=${job%.service}.timer; case "$nl$hits$nl" in *"$nl$timer$nl"*) ;;
      *) if [ -e "$timer" ] || [ -L "$timer" ]; then if found_file "$timer" /; then set -- "$@" "$timer"; fi; fi ;; esac ;; esac
  done
  unset IFS
  set +f
fi
found_contents "$@"
