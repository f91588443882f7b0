# Build, boot, test and measure the Mach system.
#
#   make run     build everything, boot the ISO in QEMU with the console here
#   make test    host unit tests + in-QEMU tests; `make test T=pattern` for a subset
#   make debug   boot halted with QEMU's GDB stub and print the gdb command
#   make bench   benchmarks (guest instruction counts); PROFILE=1 also turns on
#                the kernel's phase timers (kern/prof.rs), which add to the figures
#   make profile where the instructions of an operation go, function by function
#
# ACCEL=kvm opts into KVM (TCG is the default: this project's CI machines have a
# paravirtual /dev/kvm on which guests run far slower). CPU= picks the CPU model.

SHELL := /bin/bash
ACCEL ?= tcg
CPU ?= qemu64,+smep,+smap
MEM ?= 256M
T ?=

TARGET := x86_64-unknown-none
ROOT := $(CURDIR)
KERNEL_DIR := target/kernel
USER_DIR := target/user
KERNEL_ELF := $(KERNEL_DIR)/$(TARGET)/release/mach-kernel
# The tests' kernel: the same with debug assertions (Cargo.toml, profile.checked).
TEST_KERNEL_ELF := $(KERNEL_DIR)/$(TARGET)/checked/mach-kernel
USER_BIN := $(USER_DIR)/$(TARGET)/release
HARNESS := target/debug/harness
USER_PROGRAMS := bootstrap default-pager unix-server test-traps test-preempt test-fault test-ports test-msg test-rpc test-fuzz test-vm test-fork test-exc test-pager test-thread test-abort test-ool test-vmcopy test-device test-console test-dpager test-bigmem test-exhaust test-emul test-tls test-clock test-priv test-bootdata bench-ipc

# The emulation library, linked at unix_abi::EMUL_BASE (high in the user
# half: position-independent code, linked at its fixed address).
EMUL_DIR := target/emul
EMUL_ELF := $(EMUL_DIR)/$(TARGET)/release/emulation-lib
EMUL_RUSTFLAGS := -C link-arg=-T$(ROOT)/emulation-lib/emul.ld -C relocation-model=pic -C link-arg=--no-pie
# The Unix server's root file system (scripts/mkrootfs.sh): busybox-static,
# and the files of ROOTFS_EXTRA (a directory) on top.
ROOTFS := build/rootfs.cpio
ROOTFS_EXTRA ?=

KERNEL_RUSTFLAGS := -C link-arg=-T$(ROOT)/mach-kernel/linker.ld -C relocation-model=static \
	-C code-model=kernel -C force-frame-pointers=yes
USER_RUSTFLAGS := -C link-arg=-T$(ROOT)/mach-user/user.ld -C relocation-model=static

# The disk the kernel sees as hd0 (IDE primary master; the ISO boots from the
# secondary channel). `make disk` makes it anew, zeroed, before every QEMU run.
DISK_IMG := build/paging.img
DISK_SIZE := 4M

QEMU_FLAGS := -accel $(ACCEL) -cpu $(CPU) -m $(MEM) -smp 1 -boot d -serial stdio -display none \
	-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-drive file=$(DISK_IMG),format=raw,if=ide,index=0,media=disk
export QEMU_FLAGS

.PHONY: all deps disk kernel test-kernel user emul rootfs guest guest-iso unix-test harness iso test-iso panic-isos nodisk-iso dpager-iso one-iso lowmem-iso fuzz-iso bench-iso run test fuzz debug bench profile clean

all: iso test-iso

deps:
	@scripts/ensure-deps.sh

kernel: deps
	RUSTFLAGS="$(KERNEL_RUSTFLAGS)" CARGO_TARGET_DIR=$(KERNEL_DIR) \
		cargo build -p mach-kernel --target $(TARGET) --release

test-kernel: deps
	RUSTFLAGS="$(KERNEL_RUSTFLAGS)" CARGO_TARGET_DIR=$(KERNEL_DIR) \
		cargo build -p mach-kernel --target $(TARGET) --profile checked

user: deps
	RUSTFLAGS="$(USER_RUSTFLAGS)" CARGO_TARGET_DIR=$(USER_DIR) \
		cargo build -p bootstrap -p default-pager -p unix-server -p test-programs --target $(TARGET) --release

emul: deps
	RUSTFLAGS="$(EMUL_RUSTFLAGS)" CARGO_TARGET_DIR=$(EMUL_DIR) \
		cargo build -p emulation-lib --target $(TARGET) --release

rootfs: deps
	scripts/mkrootfs.sh $(ROOTFS) $(ROOTFS_EXTRA) $(GUEST_EXTRA)

harness:
	cargo build -p harness

disk:
	@mkdir -p build
	rm -f $(DISK_IMG) && truncate -s $(DISK_SIZE) $(DISK_IMG)

# The test boot's boot data modules (`boot-data` lines of iso/grub-test.cfg,
# checked by test-bootdata): files of a known pattern made at build time.
TESTDATA := build/testdata/test-bootdata.bin build/testdata/test-bootdata-page.bin

$(TESTDATA): scripts/make-testdata.py
	python3 scripts/make-testdata.py build/testdata

# $(1) = output ISO, $(2) = grub.cfg, $(3) = kernel (default: the release one),
# $(4) = more files for /boot (boot data modules)
define make_iso
	rm -rf $(1).d && mkdir -p $(1).d/boot/grub
	cp $(if $(3),$(3),$(KERNEL_ELF)) $(1).d/boot/mach-kernel
	for p in $(USER_PROGRAMS); do cp $(USER_BIN)/$$p $(1).d/boot/$$p; done
	if [ -f $(EMUL_ELF) ]; then cp $(EMUL_ELF) $(1).d/boot/emulation-lib; fi
	if [ -f $(ROOTFS) ]; then cp $(ROOTFS) $(1).d/boot/rootfs.cpio; fi
	$(if $(4),cp $(4) $(1).d/boot/)
	cp $(2) $(1).d/boot/grub/grub.cfg
	grub-mkrescue -o $(1) $(1).d 2>build/grub-mkrescue.log || { cat build/grub-mkrescue.log; exit 1; }
endef

iso: kernel user emul rootfs
	@mkdir -p build
	$(call make_iso,build/mach.iso,iso/grub.cfg)

# With T=pattern only the test modules whose line contains it are booted.
test-iso: test-kernel user $(TESTDATA)
	@mkdir -p build
	@if [ -n "$(T)" ]; then \
		awk -v t="$(T)" '!/^[ \t]*module2/ || /bootstrap/ || /default-pager/ || index($$0, t)' iso/grub-test.cfg > build/grub-test.cfg; \
	else cp iso/grub-test.cfg build/grub-test.cfg; fi
	$(call make_iso,build/mach-test.iso,build/grub-test.cfg,$(TEST_KERNEL_ELF),$(TESTDATA))

# Kernels that fault on purpose, to test the panic path (make test boots both).
panic-isos: test-kernel user
	@mkdir -p build
	for t in panic kernel_fault; do \
		sed -e "s/loglevel=[a-z]*/loglevel=info selftest=$$t$$([ $$t = panic ] && echo ' fuzztrace')/" \
			-e '/unix-server\|boot-data/d' iso/grub.cfg > build/grub-$$t.cfg; \
		$(MAKE) --no-print-directory one-iso ISO=build/mach-$$t.iso CFG=build/grub-$$t.cfg; \
	done

# test-device alone, for a boot without the disk, and test-console with its
# serial input /dev/null (scripts/test.sh).
nodisk-iso: test-kernel user
	@mkdir -p build
	awk '!/^[ \t]*module2/ || /bootstrap/' iso/grub-test.cfg \
		| sed 's|^\([ \t]*\)boot$$|\1module2 /boot/test-device test-device nodisk\n\1module2 /boot/test-console test-console nostdin\n\1boot|' > build/grub-nodisk.cfg
	$(MAKE) --no-print-directory one-iso ISO=build/mach-nodisk.iso CFG=build/grub-nodisk.cfg

# A workload larger than memory (scripts/test.sh boots it with little memory
# and a fresh disk): the default pager, registered with the kernel, and
# test-bigmem.
lowmem-iso: test-kernel user
	@mkdir -p build
	awk '!/^[ \t]*module2/ || /bootstrap/' iso/grub-test.cfg \
		| sed 's|^\([ \t]*\)boot$$|\1module2 /boot/default-pager default-pager register\n\1module2 /boot/test-bigmem test-bigmem\n\1boot|' > build/grub-lowmem.cfg
	$(MAKE) --no-print-directory one-iso ISO=build/mach-lowmem.iso CFG=build/grub-lowmem.cfg

# The default pager and test-dpager alone on a fresh disk (scripts/test.sh):
# test-device must be hd0's only opener, so they cannot share a boot.
dpager-iso: test-kernel user
	@mkdir -p build
	awk '!/^[ \t]*module2/ || /bootstrap/ || /default-pager/' iso/grub-test.cfg \
		| sed 's|^\([ \t]*\)boot$$|\1module2 /boot/test-dpager test-dpager\n\1boot|' > build/grub-dpager.cfg
	$(MAKE) --no-print-directory one-iso ISO=build/mach-dpager.iso CFG=build/grub-dpager.cfg

# Exhaustion alone with the bootstrap task (scripts/test.sh), so that the
# kernel's global counts are test-exhaust's to check.
exhaust-iso: test-kernel user
	@mkdir -p build
	awk '!/^[ \t]*module2/ || /bootstrap/' iso/grub-test.cfg \
		| sed 's|^\([ \t]*\)boot$$|\1module2 /boot/test-exhaust test-exhaust\n\1boot|; s|\(multiboot2 .*\)$$|\1 heap_slack=8192|' > build/grub-exhaust.cfg
	$(MAKE) --no-print-directory one-iso ISO=build/mach-exhaust.iso CFG=build/grub-exhaust.cfg

# The fuzz boot (iso/grub-fuzz.cfg); SEED= and CALLS= replace its seed set and
# calls per seed (make fuzz).
SEED ?=
CALLS ?=
fuzz-iso: test-kernel user $(TESTDATA)
	@mkdir -p build
	sed -e '$(if $(SEED),s|seeds=[^ ]*|seeds=$(SEED)|)' -e '$(if $(CALLS),s|calls=[0-9]*|calls=$(CALLS)|)' \
		iso/grub-fuzz.cfg > build/grub-fuzz.cfg
	$(MAKE) --no-print-directory one-iso ISO=build/mach-fuzz.iso CFG=build/grub-fuzz.cfg EXTRA="$(TESTDATA)"

# One ISO; KELF= the kernel (default: the tests' kernel), EXTRA= more files
# for /boot.
KELF ?= $(TEST_KERNEL_ELF)
EXTRA ?=
one-iso:
	$(call make_iso,$(ISO),$(CFG),$(KELF),$(EXTRA))

run: iso harness disk
	qemu-system-x86_64 $(QEMU_FLAGS) -cdrom build/mach.iso | $(HARNESS) symbolize --kernel $(KERNEL_ELF)

test: test-iso panic-isos nodisk-iso dpager-iso lowmem-iso exhaust-iso fuzz-iso emul harness disk
	scripts/test.sh $(TEST_KERNEL_ELF) build/mach-test.iso $(HARNESS) "$(T)"

# The fuzzer alone, longer: `make fuzz SEED=7 CALLS=1000000` (SEED may be a
# list, `SEED=1,2,3`); passes or fails as the harness says, like make test.
# FUZZ_TIMEOUT= seconds (default 3600).
FUZZ_TIMEOUT ?= 3600
# test-fuzz must also have lived to print its total (a fuzzer killed by its
# own calls reports nothing else).
fuzz: fuzz-iso harness disk
	$(HARNESS) test --kernel $(TEST_KERNEL_ELF) --timeout $(FUZZ_TIMEOUT) --log build/fuzz-serial.log -- \
		qemu-system-x86_64 $(QEMU_FLAGS) -cdrom build/mach-fuzz.iso
	@grep -a '^test-fuzz: .* calls in all' build/fuzz-serial.log || { echo "make fuzz: test-fuzz did not finish"; exit 1; }

debug: iso disk
	@scripts/ensure-deps.sh debug
	@echo "QEMU is waiting for GDB. In another terminal run:"
	@echo "  gdb $(KERNEL_ELF) -ex 'set architecture i386:x86-64' -ex 'target remote :1234'"
	qemu-system-x86_64 $(QEMU_FLAGS) -cdrom build/mach.iso -s -S

# With PROFILE=1 the kernel also runs its phase timers (`profile` on its
# command line) and prints their totals at the end of build/bench.log; they
# cost instructions inside the figures, so plain `make bench` leaves them off.
PROFILE ?=
bench-iso: kernel user
	@mkdir -p build
	sed '$(if $(PROFILE),s|loglevel=warn|loglevel=warn profile|)' iso/grub-bench.cfg > build/grub-bench.cfg
	$(call make_iso,build/mach-bench.iso,build/grub-bench.cfg)

# Guest instructions per operation: QEMU counts one nanosecond per guest
# instruction and the TSC follows it. Prints `bench NAME VALUE UNIT` lines.
bench: bench-iso emul disk
	@timeout 600 qemu-system-x86_64 $(QEMU_FLAGS) -icount shift=0 -cdrom build/mach-bench.iso </dev/null \
		| tee build/bench.log | grep -E '^(bench |#   )'; \
	grep -q '^bench ' build/bench.log
	@if [ -n "$(PROFILE)" ]; then grep '^profile ' build/bench.log || true; fi
	@scripts/unix-bench.sh

# Where the instructions of one operation go, function by function: boots
# twice with `bench-ipc client $(TRACE)N` (N = 100 and 1100; TRACE=trace: null
# RPCs, tracemig: bench_syscall RPCs through MIG stubs, tracevm: zero-fill
# faults), traces the executed blocks (QEMU -d exec,nochain,in_asm) under the
# same -icount shift=0 as `make bench`, restricted with -dfilter to the
# kernel's and the program's text, and prints the difference per operation
# by innermost (inlined) function; DETAIL=name adds the hot blocks.
TRACE ?= trace
profile: kernel user disk
	@scripts/ensure-deps.sh profile
	@mkdir -p build
	@filter=$$(python3 scripts/profile_trace.py --dfilter $(KERNEL_ELF) $(USER_BIN)/bench-ipc) || exit 1; \
	for n in 100 1100; do \
		sed "s|bench-ipc bench-ipc client|bench-ipc bench-ipc client $(TRACE)$$n|" iso/grub-bench.cfg > build/grub-trace.cfg; \
		$(MAKE) --no-print-directory one-iso ISO=build/mach-trace.iso CFG=build/grub-trace.cfg KELF=$(KERNEL_ELF) >/dev/null || exit 1; \
		rm -f build/paging.img && truncate -s $(DISK_SIZE) build/paging.img; \
		timeout 300 qemu-system-x86_64 $(QEMU_FLAGS) -icount shift=0 -cdrom build/mach-trace.iso \
			-d exec,nochain,in_asm -dfilter $$filter -D build/trace$$n.log </dev/null >/dev/null; \
		[ $$? -ne 124 ] || { echo "profile: QEMU timed out" >&2; exit 1; }; \
	done; \
	ls -l build/trace100.log build/trace1100.log
	python3 scripts/profile_trace.py $(KERNEL_ELF) $(USER_BIN)/bench-ipc build/trace100.log 100 build/trace1100.log 1100
	rm -f build/trace100.log* build/trace1100.log*

# `make guest CMD='echo hello; exit 3' [ROOTFS_EXTRA=dir]`: the Unix system
# (guest-iso alone takes the command from ROOTFS_EXTRA's etc/guest-cmd when
# GUEST_CMD is not in the environment)
# with `/bin/sh -c "$$CMD"` as its first process; exits with its status
# (scripts/guest.sh). GUEST_TIMEOUT= seconds, GUEST_LOG=1 shows the kernel's
# lines, GUEST_TRACE=1 has the Unix server print every call (with GUEST_LOG=1).
CMD ?= echo hello from Unix on Mach
GUEST_EXTRA ?=
GUEST_DIR := build/guest-extra
export GUEST_TIMEOUT GUEST_LOG
# GUEST_KERNEL=checked boots the tests' kernel (make test's Unix boot).
GUEST_KERNEL ?= release
GUEST_KELF = $(if $(filter checked,$(GUEST_KERNEL)),$(TEST_KERNEL_ELF),$(KERNEL_ELF))
guest-iso: $(if $(filter checked,$(GUEST_KERNEL)),test-kernel,kernel) user emul
	@rm -rf $(GUEST_DIR) && mkdir -p $(GUEST_DIR)/etc
	@if [ -n "$$GUEST_CMD" ]; then printf '%s' "$$GUEST_CMD" > $(GUEST_DIR)/etc/guest-cmd; fi
	@$(MAKE) --no-print-directory rootfs GUEST_EXTRA=$(GUEST_DIR) >/dev/null
	@sed 's|unix-server --cmd-file|unix-server $(if $(GUEST_TRACE),--trace )--cmd-file|' iso/grub-guest.cfg > build/grub-guest.cfg
	@$(MAKE) --no-print-directory one-iso ISO=build/mach-guest.iso CFG=build/grub-guest.cfg KELF=$(GUEST_KELF) >/dev/null
guest: export GUEST_CMD := $(value CMD)
guest: guest-iso disk
	@scripts/guest.sh build/mach-guest.iso; s=$$?; echo "make guest: exit status $$s"; exit $$s

# The Unix system's tests alone (make test runs them too): busybox scripts
# and C programs against the host's own output (scripts/unix-tests.sh).
unix-test: kernel user emul harness disk
	scripts/unix-tests.sh

clean:
	cargo clean
	rm -rf build
