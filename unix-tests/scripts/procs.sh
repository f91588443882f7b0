# Processes: subshells, background jobs, wait, exit statuses, kill, trap.
sh -c 'exit 5'; echo "child: $?"
(sleep 0; echo background) & wait; echo "waited: $?"
sh -c 'kill -9 $$'; echo "killed: $?"
{ for i in 1 2 3; do (echo "job $i") & done; wait; } | sort
echo done
