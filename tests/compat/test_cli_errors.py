"""What the docker CLI prints for everyday mistakes, word for word as against Docker's
dockerd (measured side by side with dockerd 20.10; where API 1.47 changed a text, moby's
current one)."""

import json

from .conftest import sleeper, uid
from .test_system import raw_request


def _fails(out, code: int, stderr: str) -> None:
    assert (out.returncode, out.stderr) == (code, stderr), out


def test_bad_names_at_create_and_rename(cli, container_cleanup):
    _fails(cli("create", "--name", "/", "busybox", check=False), 1,
           "Error response from daemon: Invalid container name (/), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n")
    a, b = sleeper(cli, container_cleanup), sleeper(cli, container_cleanup)
    _fails(cli("rename", a, "bad name", check=False), 1,
           "Error response from daemon: Error when allocating new name: Invalid container name (/bad name), "
           f"only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\nError: failed to rename container named {a}\n")
    taken = cli("rename", a, b, check=False)
    assert taken.returncode == 1
    assert taken.stderr.startswith(f'Error response from daemon: Error when allocating new name: Conflict. '
                                   f'The container name "/{b}" is already in use by container "')


def test_wait_condition_is_quoted_as_go_does(daemon, cli, container_cleanup):
    n = uid()
    container_cleanup.append(n)
    cli("create", "--name", n, "busybox", "true")
    status, _, body = raw_request(daemon, "POST", f"/v1.47/containers/{n}/wait?condition=bogus")
    assert (status, json.loads(body)) == (400, {"message": 'invalid condition: "bogus"'})
