# Text tools.
cd "$(mktemp -d)"
printf 'alpha 3\nbeta 1\ngamma 2\n' > t
sort -k2 -n t
awk '{ s += $2 } END { print "sum", s }' t
sed 's/a/A/g' t
grep -c a t
cut -d' ' -f1 t | tr a-z A-Z
head -n 2 t; tail -n 1 t
md5sum t | cut -d' ' -f1
seq 1 5 | xargs echo
