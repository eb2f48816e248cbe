"""The per-container shim (containerd-shim role); standard library only.

`dockerd-py-shim DIR` / `python3 -m dockerd_py.shim DIR`; the protocol is
docs/contracts.md §2. The daemon normally has its shims forked by the shim fork
server (forkserver.py, one per exec-root), which runs the very same code path
(`__main__.run(DIR)`) in a child of an interpreter that has it loaded already.
Nothing here may import Flask, pluggy, pyroute2 or any other dockerd_py package.

Additions to §2 (all optional for the caller):
- shim.json: "log_path": "" disables logging (--log-driver none);
  "log_max_size" (bytes, 0 = none) and "log_max_file" rotate the json-file log
  the way moby does (<log>.1 ... <log>.N-1; max-file 1 truncates).
- "state" of a stopped process also carries "exit_code".
- exec: {"op":"exec","exec_id":X,"process":{OCI process},"tty":b,"stdin":b,
  "detach":b,"stdout":b,"stderr":b} runs `RUNTIME exec --process F --detach
  --pid-file P [--console-socket S] ID`, replies {"ok":true,"pid":N} and, unless
  detached, the connection becomes the exec's attach stream (stdin closes on
  half-close; the stream closes once the exec exited and its output is
  drained; exec output is not logged). {"op":"exec_wait","exec_id":X} replies
  {"ok":true,"exit_code":N,"exited_at":...} once that is so. "exec_id" may
  also be given to state, kill (kill(2) of that pid), resize, close_stdin and
  attach.
"""
