"""The per-container shim (containerd-shim role); standard library only.

`dockerd-py-shim DIR` / `python3 -m dockerd_py.shim DIR`; the protocol is
docs/contracts.md §2. The daemon normally has its shims forked by the shim fork
server (forkserver.py, one per exec-root), which runs the very same code path
(`__main__.run(DIR)`) in a child of an interpreter that has it loaded already.
Nothing here may import Flask, pluggy, pyroute2 or any other dockerd_py package
(dockerd_py.state.atomic, stdlib only, excepted).

Modules, from the entry points down:
- __main__.py   `dockerd-py-shim DIR`: runs launch.launch(DIR).
- forkserver.py the shim fork server: preloads the modules below, forks shims.
- launch.py     start-up: fork the daemonised shim (setsid, shim.log, subreaper,
                shim.sock, `runtime create`) and relay its one-line report.
- server.py     Shim, the coordinator: create, serve until init is drained, the
                control requests (start, kill, exec, ...), finish at the exit.
- control.py    the control socket's transport: request lines, replies, clients
                waiting for an exit, the requests still queued at the end.
- proc.py       Proc, one process's stdio: output to the log and attach streams,
                stdin from them, back-pressure, the drain after its exit.
- attach.py     Attacher, one attach stream's socket: framing, queued output, EOF.
- loop.py       the selectors event loop, woken by SIGCHLD.
- exits.py      reaping children, OOM-kill detection, exit.json.
- runtime.py    the runtime CLI: spawning it, reading its output, the new stdio
                (pipes, or a pty from the console socket) of create and exec.
- jsonlog.py    the json-file log (<id>-json.log) and Docker's timestamps.
- logfile.py    the log's files: appending, rotation by size, gzip of rotated files.
- shimlog.py    the shim's own diagnostic lines (DIR/shim.log).
- statedir.py   AF_UNIX addresses for sockets in DIR, however long its path.

Additions to §2 (all optional for the caller):
- shim.json: "log_path": "" disables logging (--log-driver none);
  "log_max_size" (bytes, 0 = none), "log_max_file" and "log_compress" rotate
  the json-file log the way moby does (<log>.1[.gz] ... <log>.N-1[.gz]; max-file 1
  starts <log> again); logfile.py.
- "state" of a stopped process also carries "exit_code".
- exec: {"op":"exec","exec_id":X,"process":{OCI process},"tty":b,"stdin":b,
  "detach":b,"stdout":b,"stderr":b} runs `RUNTIME exec --process F --detach
  --pid-file P [--console-socket S] ID`, replies {"ok":true,"pid":N} and, unless
  detached, the connection becomes the exec's attach stream (stdin closes on
  half-close; the stream closes once the exec exited and its output is
  drained; exec output is not logged). {"op":"exec_wait","exec_id":X} replies
  {"ok":true,"exit_code":N,"exited_at":...} once that is so. "exec_id" may
  also be given to state, kill (kill(2) of that pid), resize, close_stdin and
  attach. {"op":"exec_delete","exec_id":X} forgets an exec that has finished
  (the daemon recorded its exit); until then exit.json carries its exit code in
  "execs": {exec_id: exit_code}, for a daemon that was down when it ended.
"""
