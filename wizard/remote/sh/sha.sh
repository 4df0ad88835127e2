# shellcheck shell=sh
# `sha F` sets h to F's SHA-256 in one process (no `cut`).
sha() { h=$(sha256sum < "$1"); h="${h%% *}"; }
