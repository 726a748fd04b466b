"""The four steps every state change is tested in: check, apply, again, again in check.

    steps = four_steps("libvirt_admin_threadpool", {"uri": uri, "max_workers": 40},
                       lambda: witness.settings(uri, "libvirtd"))

asserts changed, changed, unchanged, unchanged (and no failure), and that the witness (an
independent reading of the state: virt-admin, the file, the clients) moves only at apply. run is the
runner (tests.harness.ansible.run_module by default, or a fleet's), called as run(module, args, check=,
diff=); its results are returned for the test's own assertions.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.harness.ansible import Result, run_module


@dataclass
class Steps:
    check: Result
    apply: Result
    again: Result
    again_check: Result
    before: object
    after: object


def four_steps(module: str, args: dict, witness, run=run_module) -> Steps:
    before = witness()
    check = run(module, args, check=True, diff=True)
    assert check.changed and not check.failed, check
    assert witness() == before, "check mode changed something"
    apply = run(module, args, diff=True)
    assert apply.changed and not apply.failed, apply
    after = witness()
    assert after != before, "apply changed nothing"
    again = run(module, args, diff=True)
    assert not again.changed and not again.failed, again
    assert witness() == after, "the second run changed something"
    again_check = run(module, args, check=True, diff=True)
    assert not again_check.changed and not again_check.failed, again_check
    assert witness() == after, "the second check changed something"
    return Steps(check, apply, again, again_check, before, after)
