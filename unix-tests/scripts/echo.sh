# Builtins, variables, exit statuses.
echo hello
x=world; echo "hello $x"
printf '%s-%d\n' abc 42
true; echo "true: $?"
false; echo "false: $?"
( exit 7 ); echo "subshell: $?"
