# Processes: child statuses, exec, kill, signals' exit statuses.
sh -c 'exit 5'; echo "child: $?"
sh -c 'kill -9 $$'; echo "killed: $?"
sh -c 'kill -TERM $$'; echo "terminated: $?"
/bin/sh -c 'echo exec $0 $1' a b
x=$(sh -c 'echo inner; exit 2'); echo "$x $?"
echo done
