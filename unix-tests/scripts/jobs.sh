# Background jobs, wait, trap and kill: ash waits for SIGCHLD in
# sigsuspend, so these run only with signals delivered to handlers.
(sleep 0; echo background) & wait; echo "waited: $?"
{ for i in 1 2 3; do (echo "job $i") & done; wait; } | sort
trap 'echo caught USR1' USR1
kill -USR1 $$; sleep 0; echo "after trap"
sleep 1 & pid=$!; kill $pid; wait $pid; echo "killed job: $?"
