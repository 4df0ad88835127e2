# shellcheck shell=sh
# `dn P` sets r to `dirname P` without a process (every path here is absolute and normalised).
dn() { r="${1%/*}"; if [ "$r" = "$1" ]; then r=.; elif [ -z "$r" ]; then r=/; fi; }
