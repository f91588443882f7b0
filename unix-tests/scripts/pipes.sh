# Pipelines, redirections, here-documents, command substitution.
cd "$(mktemp -d)"
echo one two three | tr ' ' '\n' | sort -r
printf 'b\na\nc\na\n' | sort | uniq -c
cat <<END
here $((6 * 7))
END
n=$(echo abc | wc -c); echo "count $n"
echo first > f; echo second >> f; cat f; wc -l < f
ls
