# shellcheck shell=sh
# A cut connection must not kill a script before its EXIT trap removes its temp file:
# writes to a closed stderr fail instead of raising SIGPIPE, and a hangup exits cleanly.
trap '' PIPE
trap 'exit 129' HUP
trap 'exit 143' TERM
trap 'exit 130' INT
