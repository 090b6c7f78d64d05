#!/usr/bin/perl
# run.pl STATUSFILE LIMIT_SECONDS CMD [ARGS...]
# Runs CMD (stdin/stdout/stderr inherited) and writes one line to STATUSFILE:
#   "exit N SECONDS 0"      CMD exited with status N
#   "signal N SECONDS CORE" CMD was killed by signal N (CORE 1 if it dumped core)
#   "hung 0 SECONDS 0"      CMD was still running after LIMIT_SECONDS and got SIGKILL
# Unlike bash's $?, this tells "exit(139)" apart from "killed by SIGSEGV".
use strict;
use warnings;
use POSIX ":sys_wait_h";

# Time::HiRes comes with Debian's perl package, not with perl-base (Essential, and what the QEMU
# harness's initramfs carries, tests/kvm/tests.txt): without it SECONDS are whole seconds, and
# the poll below sleeps through select(), which takes fractions anyway.
my $now = eval { require Time::HiRes; \&Time::HiRes::time } || sub { time };

my ($statf, $limit, @cmd) = @ARGV;
die "usage: run.pl STATUSFILE LIMIT_SECONDS CMD [ARGS...]\n" unless @cmd;
my $t0 = $now->();
my $pid = fork();
die "run.pl: fork: $!\n" unless defined $pid;
if ($pid == 0) {
  exec { $cmd[0] } @cmd or print STDERR "run.pl: exec $cmd[0]: $!\n";
  POSIX::_exit(127);
}
my ($kind, $value, $core) = ("hung", 0, 0);
for (;;) {
  if (waitpid($pid, WNOHANG) == $pid) {
    my $st = $?;
    if ($st & 127) {
      ($kind, $value, $core) = ("signal", $st & 127, ($st & 128) ? 1 : 0);
    } else {
      ($kind, $value) = ("exit", $st >> 8);
    }
    last;
  }
  if ($now->() - $t0 > $limit) {
    kill 'KILL', $pid;
    waitpid($pid, 0);
    last;
  }
  select(undef, undef, undef, 0.005);
}
open(my $f, '>', $statf) or die "run.pl: $statf: $!\n";
printf $f "%s %d %.3f %d\n", $kind, $value, $now->() - $t0, $core;
close $f;
