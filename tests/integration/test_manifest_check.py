"""`hookrun manifest --check` on real YAML files: good manifests pass, each mistake is located."""

from __future__ import annotations

import textwrap
from pathlib import Path

from support import ROOT
from support.cli import hookrun

NGINX = str(ROOT / "config/nginx.toml")

GOOD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 30
      serviceAccountName: web-hookrun
      containers:
        - name: nginx
          image: nginx:1.27
          env:
            - {name: HOOKRUN_GRACE_PERIOD, value: "30s"}
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
          lifecycle:
            postStart: {exec: {command: ["/usr/local/bin/hookrun", "poststart"]}}
            preStop: {exec: {command: ["/usr/local/bin/hookrun", "prestop"]}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: endpointslice-reader}
rules: [{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-hookrun}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: endpointslice-reader}
subjects: [{kind: ServiceAccount, name: web-hookrun}]
"""


def check(tmp_path: Path, text: str, config: str = NGINX) -> tuple[int, list[str]]:
    path = tmp_path / "manifest.yaml"
    path.write_text(textwrap.dedent(text))
    run = hookrun("--config", config, "manifest", "--check", str(path), merged=True)
    return run.code, run.out.splitlines()


def test_a_matching_deployment_passes(tmp_path: Path) -> None:
    code, lines = check(tmp_path, GOOD)
    assert code == 0, lines
    assert lines == [f"{tmp_path / 'manifest.yaml'}: ok against {NGINX}"]


def test_the_seed_deployment_shape_is_checked(tmp_path: Path) -> None:
    """The seed's shape: a shell preStop beside hookrun's postStart, no grace period set, no env."""
    code, lines = check(tmp_path, """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: nginx
                  image: nginx
                  lifecycle:
                    postStart: {exec: {command: ["hookrun", "poststart"]}}
                    preStop:
                      exec:
                        command: ["sh", "-c", "nginx -s quit; while killall -0 nginx; do sleep 1; done"]
        """)
    assert code == 1
    where = f"{tmp_path / 'manifest.yaml'}: document 1 (Deployment web), container nginx"
    assert lines[0] == (f"{where}, spec.template.spec.containers[0].env: HOOKRUN_GRACE_PERIOD is not "
                        'set: hookrun would assume 30s (settings.grace_period); set it to "30s"')
    assert lines[-1].startswith("1 problem(s) in ")


def test_each_mistake_is_located(tmp_path: Path) -> None:
    config = tmp_path / "hookrun.toml"
    config.write_text(textwrap.dedent("""
        [settings]
        grace_period = "20s"
        shutdown_reserve = "5s"
        [prestop]
        [[prestop.steps]]
        name = "tell"
        http = { url = "${REGISTRY_URL}/leave" }
        timeout = "5s"
        once = "pod"
        [[prestop.steps]]
        name = "nap"
        sleep = "${NAP:-12s}"
        """))
    code, lines = check(tmp_path, """
        apiVersion: v1
        kind: Pod
        metadata: {name: one}
        spec:
          terminationGracePeriodSeconds: 15
          containers:
            - name: app
              image: app
              env:
                - {name: HOOKRUN_GRACE_PERIOD, value: "20s"}
              lifecycle:
                postStart: {exec: {command: ["/hookrun/bin/hookrun", "poststart"]}}
                preStop: {exec: {command: ["/hookrun/bin/hookrun", "prestop"]}}
            - name: sidecar
              image: other
        ---
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: nightly}
        spec:
          schedule: "0 3 * * *"
          jobTemplate:
            spec:
              template:
                spec:
                  terminationGracePeriodSeconds: 20
                  restartPolicy: Never
                  containers:
                    - name: job
                      image: job
                      env:
                        - {name: HOOKRUN_GRACE_PERIOD, value: "20s"}
                        - {name: REGISTRY_URL, value: "http://127.0.0.1:9"}
                        - name: POD_UID
                          valueFrom: {fieldRef: {fieldPath: metadata.uid}}
                      lifecycle:
                        preStop: {exec: {command: ["hookrun", "prestop"]}}
        """, str(config))
    assert code == 1
    pod = f"{tmp_path / 'manifest.yaml'}: document 1 (Pod one), container app"
    assert lines[:-1] == [
        f"{pod}, spec.containers[0].env: not set, and the config needs it (no default): REGISTRY_URL",
        f'{pod}, spec.containers[0].lifecycle.postStart.exec.command: runs hook "poststart", which '
        "the config does not define (hooks: prestop)",
        f"{pod}, spec.containers[0].env.HOOKRUN_GRACE_PERIOD: 20s but terminationGracePeriodSeconds "
        "is 15s: they must be equal (the grace period cannot be read inside a pod)",
        f"{pod}, terminationGracePeriodSeconds: 15s does not cover prestop: worst case 17s + "
        "shutdown_reserve 5s = 22s; worst case 17s exceeds the budget 10s: nap may be cut or skipped",
        f'{pod}, spec.containers[0].env: a step is once = "pod": POD_UID must come from the downward '
        "API (valueFrom.fieldRef.fieldPath: metadata.uid)",
        # the CronJob's container is right but for its grace period: 17 s + 5 s > 20 s
        f"{tmp_path / 'manifest.yaml'}: document 2 (CronJob nightly), container job, "
        "terminationGracePeriodSeconds: 20s does not cover prestop: worst case 17s + shutdown_reserve "
        "5s = 22s; worst case 17s exceeds the budget 15s: nap may be cut or skipped",
    ]
    assert lines[-1].startswith("6 problem(s)")


def test_bad_yaml_and_missing_files(tmp_path: Path) -> None:
    code, lines = check(tmp_path, "kind: Pod\nspec: [unclosed\n")
    assert code == 1
    assert lines[0].startswith(f"{tmp_path / 'manifest.yaml'}: not valid YAML: line ")
    missing = hookrun("--config", NGINX, "manifest", "--check", str(tmp_path / "nope.yaml"), merged=True)
    assert missing.code == 1 and f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory" in missing.out


ENDPOINTS_CONFIG = """\
[settings]
grace_period = "30s"
[prestop]
[[prestop.steps]]
name = "endpoint-race"
endpoints = { margin = "1s" }
timeout = "10s"
on_failure = "ignore"
[[prestop.steps]]
name = "sleep-instead"
unless = ["endpoint-race"]
sleep = "5s"
"""


def test_the_endpoints_step_needs_its_ip_token_and_rbac(tmp_path: Path) -> None:
    """What `hookrun manifest` prints for a config with an endpoints step passes --check when the
    workload uses it; each piece missing is a located problem."""
    config = tmp_path / "hookrun.toml"
    config.write_text(ENDPOINTS_CONFIG)
    printed = hookrun("--config", str(config), "manifest", "--container", "web", merged=True)
    assert printed.code == 0, printed.out
    documents = printed.out.split("---\n")
    fragment, rbac = documents[0], "---\n".join(documents[1:])
    assert "serviceAccountName: web-hookrun" in fragment and "fieldPath: status.podIP" in fragment
    assert [line for line in rbac.splitlines() if line.startswith("kind:")] == [
        "kind: ServiceAccount", "kind: Role", "kind: RoleBinding"]
    assert 'verbs: ["get", "list", "watch"]' in rbac and 'resources: ["endpointslices"]' in rbac
    (tmp_path / "rbac.yaml").write_text(rbac)
    pod = textwrap.indent(fragment, "      ")  # the fragment as a Deployment's pod spec
    deployment = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
                  "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
                  "    spec:\n" + pod)
    workload = tmp_path / "deployment.yaml"
    workload.write_text(deployment)

    def run_check(*files: Path) -> tuple[int, list[str]]:
        run = hookrun("--config", str(config), "manifest", "--check", *map(str, files), merged=True)
        return run.code, run.out.splitlines()

    code, lines = run_check(workload, tmp_path / "rbac.yaml")  # RBAC in another file counts
    assert code == 0, lines
    code, lines = run_check(workload)
    assert code == 1, lines
    assert lines[0].endswith(
        "spec.template.spec.serviceAccountName: no Role and RoleBinding in the files checked grant get, "
        "list and watch on endpointslices to ServiceAccount web-hookrun: check the file that holds them "
        "too, or apply the ones `hookrun manifest` prints (the endpoints step endpoint-race needs them)")
    broken = (deployment.replace("automountServiceAccountToken: true", "automountServiceAccountToken: false")
              .replace("status.podIPs\n", "status.hostIPs\n").replace("status.podIP\n", "status.hostIP\n")
              .replace("serviceAccountName: web-hookrun",
                                                                      "serviceAccountName: other"))
    workload.write_text(broken)
    code, lines = run_check(workload, tmp_path / "rbac.yaml")
    assert code == 1, lines
    assert any(line.endswith("spec.template.spec.containers[0].env: the endpoints step (endpoint-race) "
                             "needs the pod's IP: POD_IP from the downward API (valueFrom.fieldRef.fieldPath: "
                             "status.podIP)") for line in lines), lines
    assert any(line.endswith("spec.template.spec.automountServiceAccountToken: false: the endpoints step "
                             "(endpoint-race) reads the API with the pod's ServiceAccount token")
               for line in lines), lines
    assert any("spec.template.spec.serviceAccountName: ServiceAccount other is not granted get, list and "
               "watch on endpointslices" in line for line in lines), lines
