"""Crash tests: the real bot in a subprocess, killed with SIGKILL at each job-state
boundary and started again, to prove that no job is lost, posted twice or submitted
twice. :mod:`tests.crash.bot_process` is the subprocess; :mod:`tests.crash.supervisor`
starts, watches and kills it, and defines the bench the tests share."""
