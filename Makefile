# tern - top-level Makefile (GNU make).
#
#   make            build every program into build/
#   make run        build, create a private instance under run/ and start it
#   make check      build and run the whole test suite through prove
#   make check-asan the same with AddressSanitizer + UBSan (build-asan/)
#   make install    install (PREFIX, DESTDIR, sysconfdir, libexecdir, queue_directory)
#   make bench      side-by-side benchmarks (bench/)
#   make deps       install missing Debian packages (as root) or list them
#
# Every target depends on deps, so a fresh Debian 12 machine needs nothing
# but git and make. Programs are listed in PROGS as dir/name: the program
# is built from dir/name.c and dir/name_*.c, linked with libtern.a (lib/).

PREFIX          ?= /usr/local
DESTDIR         ?=
sysconfdir      ?= /etc/tern
libexecdir      ?= $(PREFIX)/libexec/tern
sbindir         ?= $(PREFIX)/sbin
bindir          ?= $(PREFIX)/bin
mandir          ?= $(PREFIX)/share/man
queue_directory ?= /var/spool/tern
data_directory  ?= /var/lib/tern

BUILD   ?= build
ifeq ($(origin CC),default)
CC      = gcc
endif
SAN     ?=
PERL    ?= /usr/bin/perl

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
HARDEN  = -fstack-protector-strong -fPIE
ifeq ($(SAN),)
HARDEN += -D_FORTIFY_SOURCE=2
OPT     ?= -O2 -g
else
OPT     ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
CPPFLAGS += -D_GNU_SOURCE -Ilib -DTERN_SYSCONFDIR='"$(sysconfdir)"' \
            -DTERN_LIBEXECDIR='"$(libexecdir)"' -DTERN_QUEUE_DIRECTORY='"$(queue_directory)"' \
            -DTERN_DATA_DIRECTORY='"$(data_directory)"' -DTERN_SBINDIR='"$(sbindir)"'
CFLAGS  += -std=c17 $(WARN) $(HARDEN) $(OPT) -MMD -MP
# --as-needed: a program records only the shared libraries it calls (every
# library is a start cost: bench/README.md); gcc leaves it off with -fsanitize
LDFLAGS += -pie -Wl,-z,relro,-z,now $(if $(SAN),-fsanitize=address$(comma)undefined,-Wl$(comma)--as-needed)
LDLIBS  = -levent -levent_openssl -lssl -lcrypto -lpcre2-8 -ldb -lunbound -lmaxminddb \
          -lcurl -lz -lcrypt
comma := ,

# Debian packages: libraries (DESIGN.md section 6) and what the tests use.
DEB_BUILD = gcc make libc6-dev libssl-dev libunbound-dev libdb-dev libmaxminddb-dev \
            libpcre2-dev libevent-dev libcurl4-openssl-dev zlib1g-dev libcrypt-dev
DEB_TEST  = perl mandoc openssl python3 swaks procps iproute2 db5.3-util \
            nsd ldnsutils unbound-host mmdb-bin libmaxmind-db-writer-perl dovecot-core postfix pflogsumm
DEB_ALL   = $(DEB_BUILD) $(DEB_TEST)

# Programs: dir/name. Daemons live in libexecdir, tools in sbindir.
DAEMONS = master/master qmgr/proxymap smtpd/smtpd qmgr/cleanup qmgr/pickup qmgr/qmgr qmgr/showq delivery/error delivery/discard qmgr/bounce delivery/local delivery/virtual \
          delivery/smtp delivery/sts smtpd/screen
TOOLS   = cli/ternctl cli/ternconf cli/ternmap cli/terncat cli/sendmail cli/terndrop cli/ternuser cli/ternqueue cli/ternsuper
# a test service master runs from daemon_directory (the build directory in private instances)
TESTDAEMONS = t/svc/tern-testsvc
TESTPROGS = t/qfile/tern-qwrite t/qfile/tern-qgen t/dns/tern-dnsq t/geoip/tern-geoip t/screen/tern-screenq
# a program whose main file does not exist yet is skipped
PROGS   = $(foreach p,$(DAEMONS) $(TOOLS) $(TESTDAEMONS) $(TESTPROGS),$(if $(wildcard $(p).c),$(p)))
# mailq and newaliases are sendmail under other names: symbolic links
SENDMAIL_LINKS = $(if $(wildcard cli/sendmail.c),$(BUILD)/mailq $(BUILD)/newaliases)

LIB_SRCS  = $(wildcard lib/base/*.c lib/mail/*.c)
LIB_OBJS  = $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIBTERN   = $(BUILD)/libtern.a
UNIT_SRCS = $(wildcard t/unit/*.c)
UNIT_BINS = $(UNIT_SRCS:t/unit/%.c=$(BUILD)/t/unit/%)

prog_name = $(notdir $(1))
# where a program is built: test helpers under $(BUILD)/t/bin (never installed), the rest in $(BUILD)
prog_out = $(if $(filter $(1),$(TESTPROGS)),$(BUILD)/t/bin,$(BUILD))/$(notdir $(1))
prog_srcs = $(wildcard $(1).c $(1)_*.c)
BINS = $(foreach p,$(PROGS),$(call prog_out,$(p)))

.PHONY: all deps run stop check check-asan unit install bench clean man-lint FORCE
.DEFAULT_GOAL := all
.SECONDARY:

all: deps $(BINS) $(SENDMAIL_LINKS) $(UNIT_BINS)

# deps - install what is missing when root; otherwise name it and stop.
# The stamp file keeps this to one dpkg query per build.
deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: Makefile
	@missing=$$(for p in $(DEB_ALL); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done | tr '\n' ' '); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make deps: installing $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing </dev/null || exit 1; \
	  else \
	    echo "make deps: missing Debian packages: $$missing"; \
	    echo "make deps: run 'make deps' as root, or: apt-get install $$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBTERN): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

define PROG_RULE
$(call prog_out,$(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(call prog_srcs,$(1))) $(LIBTERN)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call PROG_RULE,$(p))))

$(SENDMAIL_LINKS): $(BUILD)/sendmail
	ln -sfn sendmail $@

$(BUILD)/t/unit/%: $(BUILD)/obj/t/unit/%.o $(LIBTERN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(LIB_OBJS:.o=.d) $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d)

# check - unit tests first (fast, pinpoint), then integration tests.
# TERN_BUILD tells the integration tests which binaries to use.
check: all man-lint
	$(if $(SAN),LSAN_OPTIONS=suppressions=$(CURDIR)/t/lsan.supp) \
	TERN_BUILD=$(abspath $(BUILD)) TERN_SRC=$(CURDIR) prove $(UNIT_BINS) $(sort $(wildcard t/*.t))

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 check

unit: all
	prove $(UNIT_BINS)

man-lint: deps
	@out=$$(mandoc -T lint -W warning man/man*/* 2>&1); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

# run - a private instance under run/, made by "ternctl init" the first
# time only (delete run/ for a fresh one), started unless it runs already;
# then where things are. Works as root (daemons run as the system user
# tern) and as an ordinary user (everything runs as that user).
# RUN_DIR: the instance directory (default run/); RUN_PORTS: SMTP,submission,
# submissions ports for a new instance (default 2525,2587,2465).
RUN_DIR ?= $(CURDIR)/run
RUN_PORTS ?=
RUN_CTL = $(abspath $(BUILD))/ternctl -c $(RUN_DIR)
run: all
	@test -f $(RUN_DIR)/tern.conf || $(RUN_CTL) init $(if $(RUN_PORTS),--ports $(RUN_PORTS))
	@if $(RUN_CTL) status >/dev/null 2>&1; then \
	  echo "make run: the instance in $(RUN_DIR) is running already"; \
	else \
	  $(RUN_CTL) start || exit 1; \
	fi
	@echo; $(RUN_CTL) status || true
	@echo
	@echo "next:"
	@echo "  log:      tail -f $(RUN_DIR)/log/maillog"
	@echo "  check:    $(RUN_CTL) check"
	@echo "  stop:     $(RUN_CTL) stop    (or: make stop)"
	@smtp=$$(awk '!/^#/ && $$2 == "inet" && $$8 == "smtpd" && NF == 8 { print $$1; exit }' $(RUN_DIR)/master.conf); \
	[ -n "$$smtp" ] || smtp=$$(awk '!/^#/ && $$2 == "inet" && $$8 == "smtpd" { print $$1; exit }' $(RUN_DIR)/master.conf); \
	if [ -n "$$smtp" ]; then \
	  echo "  smtp:     swaks --server $$smtp --from you@localhost --to demo@demo.test"; \
	  echo "  sendmail: echo 'Subject: hello' | $(abspath $(BUILD))/sendmail -C $(RUN_DIR) demo@demo.test"; \
	  echo "  mailbox:  ls $(RUN_DIR)/mail/demo.test/demo/new/"; \
	else \
	  echo "  smtpd is not built, so nothing accepts mail over SMTP"; \
	fi

stop:
	$(RUN_CTL) stop

# install - everything the manifest conf/tern-files lists, by conf/install.sh
install: all
	BUILD=$(abspath $(BUILD)) DESTDIR="$(DESTDIR)" sysconfdir=$(sysconfdir) libexecdir=$(libexecdir) \
	  sbindir=$(sbindir) bindir=$(bindir) mandir=$(mandir) queue_directory=$(queue_directory) \
	  data_directory=$(data_directory) sh conf/install.sh conf/tern-files

# bench - tern and Postfix side by side (bench/run; results in bench/results/)
DEB_BENCH = postfix gnuplot-nox util-linux
bench: all $(BUILD)/bench/fsynclimit
	@missing=$$(for p in $(DEB_BENCH); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done | tr '\n' ' '); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing </dev/null || exit 1; \
	  else echo "make bench: missing Debian packages: $$missing (run as root)"; exit 1; fi; \
	fi
	TERN_BUILD=$(abspath $(BUILD)) bench/run

$(BUILD)/bench/fsynclimit: bench/fsynclimit.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

clean:
	rm -rf build build-asan
