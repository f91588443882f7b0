# Background jobs and wait: ash's wait builtin waits for SIGCHLD in
# sigsuspend, so this needs signal delivery to handlers (not done yet).
(sleep 0; echo background) & wait; echo "waited: $?"
{ for i in 1 2 3; do (echo "job $i") & done; wait; } | sort
