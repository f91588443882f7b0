# Files and directories.
cd "$(mktemp -d)"
mkdir -p a/b/c
echo data > a/b/c/file
ln -s a/b/c/file link
cat link
ls -R a | sort
mv a/b/c/file a/moved
[ -e a/b/c/file ] || echo "moved away"
cat a/moved
rm -r a
[ -d a ] || echo "removed"
readlink link
dd if=/dev/zero bs=512 count=4 2>/dev/null | wc -c
head -c 100 /dev/urandom | wc -c
seq 1 2000 > big; cat big | wc -l; cat big big > twice; wc -c < twice
