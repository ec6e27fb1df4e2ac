#!/usr/bin/env python3
"""Writes the hand-made seed inputs (edge-*) into tests/fuzz/corpus/<driver>/.

The other seeds are copies of tests/fixtures (see docs/testing.md). These are the cases real
files rarely show: chunk-boundary and pre-scanner traps in plans, hostile archives, odd YAML.
Run it again after changing it; it only (re)writes files named edge-*.
"""
import io
import json
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))


def put(driver, name, data):
    d = os.path.join(HERE, "corpus", "fuzz_" + driver)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "edge-" + name), "wb") as f:
        f.write(data)


AMI = "ami-0d4c3b2a1f0e9d8c7"


def rc(address, typ, actions, after, **extra):
    name = address.split(".")[-1]
    ch = {"actions": actions, "before": extra.pop("before", None), "after": after,
          "after_unknown": extra.pop("after_unknown", {}),
          "after_sensitive": extra.pop("after_sensitive", {}),
          "before_sensitive": extra.pop("before_sensitive", {})}
    return dict({"address": address, "mode": "managed", "type": typ, "name": name,
                 "change": ch}, **extra)


def plans():
    put("plan", "empty", "")
    put("plan", "minimal.json", '{"format_version":"1.2","resource_changes":[]}')
    put("plan", "not-object.json", '[{"resource_changes":[]}]')
    put("plan", "truncated.json", '{"format_version":"1.2","resource_changes":[{"address":"a')
    put("plan", "after-unknown.json", json.dumps({
        "format_version": "1.2",
        "resource_changes": [
            rc("aws_instance.u", "aws_instance", ["create"], {"instance_type": "t3.micro"},
               after_unknown={"ami": True, "tags": {}}),
            rc("aws_spot_fleet_request.f", "aws_spot_fleet_request", ["create"],
               {"launch_specification": [{"ami": AMI}, {"ami": None}]},
               after_unknown={"launch_specification": [{}, {"ami": True}]}),
            rc("module.m[\"k\"].aws_launch_template.t", "aws_launch_template", ["update"],
               {"image_id": AMI}, before={"image_id": AMI}),
            rc("aws_instance.r", "aws_instance", ["delete", "create"], {"ami": AMI},
               before={"ami": "ami-0123456789abcdef0"}),
        ]}))
    put("plan", "sensitive.json", json.dumps({
        "format_version": "1.2",
        "resource_changes": [
            rc("aws_instance.s", "aws_instance", ["create"], {"ami": AMI,
               "tags": {"SourceAMI": "ami-0fedcba9876543210"}},
               after_sensitive={"ami": True, "tags": {"SourceAMI": True}}),
            rc("aws_ssm_parameter.p", "aws_ssm_parameter", ["create"],
               {"value": "ami-0e1f2a3b4c5d6e7f8"}, after_sensitive={"value": True}),
        ],
        "output_changes": {"img": {"actions": ["create"], "after": AMI, "after_sensitive": True}},
        "planned_values": {"outputs": {"img": {"sensitive": True, "value": AMI}}}}))
    # bytes the pre-scanner must cross: brackets and quotes in strings, escapes, unicode
    put("plan", "skip-traps.json",
        '{"format_version":"1.2","variables":{"v":{"value":"}]\\"{["}},'
        '"resource_changes":[{"address":"aws_instance.a","mode":"managed","type":"aws_instance",'
        '"name":"a","change":{"actions":["create"],"before":{"x":"\\\\"},'
        '"after":{"ami":"ami-0d4c3b2a1f0e9d8c7","t\\u0061gs":{"k":"ami-0a1b2c3d4e5f60718"}},'
        '"after_unknown":{"a":"]}","b":[[[[{}]]]],"c":"\\"true\\"","d":true},'
        '"after_sensitive":{"z":"true","y":[false,{"q":"\\u0074rue"}],"w":true},'
        '"before_sensitive":false}}],"prior_state":{"values":{"root_module":{"resources":[]}}},'
        '"relevant_attributes":[{"resource":"x","attribute":["}","]"]}]}')
    put("plan", "mismatch.json", '{"format_version":"1.2","checks":{"a":[}],"resource_changes":[]}')
    deep = "[" * 600 + "]" * 600
    put("plan", "deep-skipped.json",
        '{"format_version":"1.2","timestamp":' + deep + ',"resource_changes":[]}')
    put("plan", "deep-read.json",
        '{"format_version":"1.2","resource_changes":[{"address":"aws_instance.a","type":'
        '"aws_instance","mode":"managed","change":{"actions":["create"],"after":{"ami":'
        + "[" * 100 + '"ami-0d4c3b2a1f0e9d8c7"' + "]" * 100 + '}}}]}')
    put("plan", "numbers.json",
        '{"format_version":1e999,"resource_changes":[{"address":"aws_instance.a","type":'
        '"aws_instance","mode":"managed","change":{"actions":["create"],"after":{"ami":-0,'
        '"n":123456789012345678901234567890,"f":-1.5e-400}}}]}')
    put("plan", "duplicate-keys.json",
        '{"resource_changes":[],"resource_changes":[{"address":"aws_instance.a","type":'
        '"aws_instance","mode":"managed","change":{"actions":["create"],"after":{"ami":'
        '"ami-0d4c3b2a1f0e9d8c7","ami":"ami-0a1b2c3d4e5f60718"}}}]}')
    put("plan", "config-refs.json", json.dumps({
        "format_version": "1.2",
        "variables": {"image": {"value": AMI}},
        "resource_changes": [rc("module.web.aws_instance.this", "aws_instance", ["create"],
                                {"ami": AMI})],
        "configuration": {"root_module": {
            "variables": {"image": {"default": AMI}},
            "outputs": {"o": {"expression": {"constant_value": AMI}}},
            "module_calls": {"web": {"source": "./web", "expressions": {
                "image": {"references": ["var.image"]}},
                "module": {"resources": [{"address": "aws_instance.this", "type": "aws_instance",
                    "mode": "managed", "expressions": {"ami": {"references": ["var.image"]},
                    "user_data": {"constant_value": "echo " + AMI}}}],
                    "variables": {"image": {}}}}}}}}))
    put("plan", "hcp-data.json", json.dumps({
        "format_version": "1.2",
        "resource_changes": [rc("aws_instance.p", "aws_instance", ["create"], {"ami": AMI})],
        "prior_state": {"values": {"root_module": {"resources": [{
            "address": "data.hcp_packer_artifact.pinned", "mode": "data",
            "type": "hcp_packer_artifact", "name": "pinned",
            "values": {"bucket_name": "web-ubuntu", "version_fingerprint": "web-1",
                       "external_identifier": AMI, "channel_name": None},
            "sensitive_values": {}}, {
            "address": "data.hcp_packer_version.v", "mode": "data",
            "type": "hcp_packer_version", "name": "v",
            "values": {"bucket_name": "base", "channel_name": "production",
                       "fingerprint": "fp", "id": "01JS2B7Q8ZK4M6N0P2R4T6V8XA"}}]}}},
        "configuration": {"root_module": {"resources": [{
            "address": "aws_instance.p", "type": "aws_instance", "mode": "managed",
            "expressions": {"ami": {"references": [
                "data.hcp_packer_artifact.pinned.external_identifier",
                "data.hcp_packer_artifact.pinned"]}}}]}}}))
    put("plan", "gce-azure-docker.json", json.dumps({
        "format_version": "1.2",
        "resource_changes": [
            rc("google_compute_instance.g", "google_compute_instance", ["create"],
               {"boot_disk": [{"initialize_params": [{"image":
                "projects/debian-cloud/global/images/debian-12-bookworm-v20240709"}]}]}),
            rc("azurerm_linux_virtual_machine.z", "azurerm_linux_virtual_machine", ["create"],
               {"source_image_id": "/subscriptions/0/resourceGroups/rg/providers/"
                "Microsoft.Compute/images/win2022-20250709"}),
            rc("docker_container.d", "docker_container", ["create"],
               {"image": "sha256:4f53e0b0ae2d4f1e0f1b1e0c5b5e8f6f3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e"}),
        ]}))
    put("plan", "bad-utf8.json",
        b'{"format_version":"1.2","resource_changes":[{"address":"aws_instance.\xff\xfe",'
        b'"type":"aws_instance","mode":"managed","change":{"actions":["create"],"after":'
        b'{"ami":"ami-0d4c3b2a1f0e9d8c7\xc3"}}}]}')


def config_text():
    put("config_text", "heredoc.tf",
        'resource "aws_instance" "a" {\n  user_data = <<-EOT\n    ami-0d4c3b2a1f0e9d8c7\n'
        '    EOT\n  ami = "ami-0a1b2c3d4e5f60718" # ami-0123456789abcdef0\n}\n')
    put("config_text", "comments.tf",
        '/* ami-0d4c3b2a1f0e9d8c7\n*/ // ami-0a1b2c3d4e5f60718\nami = "ami-0fedcba9876543210"\n'
        '/* unterminated ami-0e1f2a3b4c5d6e7f8')
    put("config_text", "strings.tf",
        'a = "x\\"ami-0d4c3b2a1f0e9d8c7 # not a comment"\nb = "unterminated\n'
        'c = "\\\\" # ami-0123456789abcdef0\n<<\n<<-\n<<ID')
    put("config_text", "tfvars.tfvars",
        'image = "ami-0b3c20f2fd2b1e282"\nimages = ["ami-1f2e3d4c", "ami-0123456789abcdef0"]\n'
        'gce = "projects/p/global/images/family/debian-12"\r\n')
    put("config_text", "json.tf.json",
        '{"resource":{"aws_instance":{"a":{"ami":"ami-0d4c3b2a1f0e9d8c7"}}}}')


def manifests():
    base = {"builds": [{"name": "ubuntu", "builder_type": "amazon-ebs", "build_time": 1,
                        "files": None, "artifact_id": "us-west-1:ami-0d4c3b2a1f0e9d8c7,"
                        "us-east-1:ami-0d4c3b2a1f0e9d8c6", "packer_run_uuid": "run-1",
                        "custom_data": {"source_ami": "ami-0e1f2a3b4c5d6e7f8", "n": 3,
                                        "b": True, "o": {"x": [1]}, "z": None}}],
            "last_run_uuid": "run-1"}
    put("manifest", "aws.json", json.dumps(base))
    m = json.loads(json.dumps(base))
    m["builds"].append({"name": "d", "builder_type": "docker", "artifact_id":
                        "sha256:4f53", "packer_run_uuid": "run-0"})
    m["builds"].append({"name": "g", "builder_type": "googlecompute", "artifact_id": "img",
                        "packer_run_uuid": "run-1", "custom_data": {"region": "eu"}})
    put("manifest", "mixed.json", json.dumps(m))
    put("manifest", "types.json", '{"builds":[{"name":1,"builder_type":[],"artifact_id":{}}],'
        '"last_run_uuid":7}')
    put("manifest", "empty-artifacts.json", '{"builds":[{"name":"a","builder_type":'
        '"amazon-ebs","artifact_id":"us-west-1:,:ami-1,,","packer_run_uuid":"r"}],'
        '"last_run_uuid":"r"}')
    put("manifest", "nul.json", '{"builds":[],"last_run_uuid":"a\\u0000b"}')
    put("manifest", "build-times.json", '{"builds":['
        '{"name":"a","builder_type":"docker","artifact_id":"x","packer_run_uuid":"r",'
        '"build_time":253402300799},'
        '{"name":"b","builder_type":"docker","artifact_id":"y","packer_run_uuid":"r",'
        '"build_time":1.5},'
        '{"name":"c","builder_type":"docker","artifact_id":"z","packer_run_uuid":"r",'
        '"build_time":-1}],"last_run_uuid":"r"}')


def rules():
    put("rules", "minimal.yaml",
        "patterns:\n  - name: x\n    platform: p\n    regex: 'img-[0-9]+'\n"
        "resources:\n  t_a: [image]\n  t_b: [\"a[].b[].c\"]\n")
    put("rules", "named-group.yaml",
        "patterns:\n  - name: gce\n    platform: gce\n    case_insensitive: true\n"
        "    regex: 'projects/[^/]+/global/images/(?<id>[a-z0-9-]+)'\n"
        "resources:\n  google_compute_instance: [\"boot_disk[].initialize_params[].image\"]\n")
    put("rules", "bad-regex.yaml", "patterns:\n  - {name: a, platform: b, regex: '(('}\n")
    put("rules", "empty-match.yaml", "patterns:\n  - {name: a, platform: b, regex: 'x*'}\n")
    put("rules", "anchors.yaml", "a: &x [1, 2]\nb: *x\npatterns: *x\n")


def policies():
    put("policy", "docs.yaml", """levels:
  hardcoded: fail
  untracked: fail
  outdated: warn
overrides:
  - organization: acme
    workspace: "sandbox-*"
    levels: {hardcoded: info, untracked: info}
  - workspace: "*-prod"
    levels: {revocation_scheduled: fail}
exemptions:
  - image: ami-0d4c3b2a1f0e9d8c7
    reason: "batch fleet, replaced by SEC-1234"
    expires: 2026-12-31
    workspace: "batch-*"
  - bucket: base-al2023
    version: v1
    reason: "end of support accepted until migration"
    kinds: [revocation_scheduled]
""")
    put("policy", "json.json", json.dumps({
        "version": 1, "levels": {"mention": "fail", "tracked": "warn"},
        "overrides": [{"workspace": "web-*", "levels": {"revoked": "info"}}],
        "exemptions": [{"image": "ami-0a1b2c3d4e5f60718", "reason": "r",
                        "expires": "2026-11-20T09:00:00.123+02:00", "organization": "a*"},
                       {"bucket": "web-ubuntu", "version": "web-1", "reason": "fp"}]}))
    put("policy", "bad-types.yaml", "levels: [1]\noverrides: {a: b}\nexemptions:\n  - 3\n")
    put("policy", "freshness.yaml", "levels: {stale: fail, outdated_behind: info, launch_resolved: info}\n"
        "freshness:\n  max_age: 180d\n  max_versions_behind: 2\n  buckets:\n"
        "    - {bucket: 'web-*', max_age: 30d, max_versions_behind: 0}\n"
        "    - {bucket: '[a-', max_age: 1s}\n    - bucket: golden-base\n"
        "exemptions:\n  - {image: ami-0d4c3b2a1f0e9d8c7, reason: r, kinds: [stale, outdated]}\n")
    put("policy", "globs.yaml", "overrides:\n  - organization: '[a-'\n    workspace: '**?*\\\\'\n"
        "    levels: {unknown: fail}\nexemptions:\n  - {image: '*', reason: x, "
        "expires: 2026-02-30}\n")


def runtask():
    put("runtask", "types.json", json.dumps({
        "payload_version": "1", "stage": ["post_plan"], "access_token": None,
        "task_result_id": "taskrs-1", "task_result_callback_url": "ftp://x",
        "capabilities": {"outcomes": "yes"}}))
    put("runtask", "long-id.json", json.dumps({
        "payload_version": 1, "stage": "post_plan", "access_token": "t",
        "task_result_id": "x" * 129, "task_result_callback_url": "https://a/"}))
    put("runtask", "verification-only.json", '{"access_token":"test-token"}')
    put("runtask", "dup.json", '{"stage":"test","stage":"post_plan"}')
    put("runtask", "signature-header", "0" * 128)


def framing():
    """Requests as a client sends them, good and bad (webhook/framing.c)."""
    smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    cases = {
        "get": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "pipelined": "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" +
                     smuggled,
        "post-length": "POST /runtask HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        "chunked": "POST /v1/scan HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n" + smuggled,
        "lf-only": "\nPOST /x HTTP/1.0\nContent-Length: 1\n\nx",
        "cl-conflict": "POST /runtask HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 37\r\n\r\n" +
                       smuggled,
        "te-gzip": "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "te-and-cl": "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "chunk-bad": "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n",
        "chunk-ext": "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n",
        "head-body": "HEAD / HTTP/1.1\r\nContent-Length: 37\r\n\r\n" + smuggled,
        "fold": "GET / HTTP/1.1\r\nAuthorization: Bearer\r\n igt_x\r\n\r\n",
        "options": "OPTIONS * HTTP/1.1\r\n\r\n",
        "unknown-method": "BREW /pot HTTP/1.1\r\n\r\n",
    }
    for name, text in cases.items():
        put("framing", name, text)


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=fmt) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.linkname = e.get("link", "")
            ti.mode = e.get("mode", 0o644)
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    return bio.getvalue()


def archives():
    tf = b'resource "aws_instance" "a" { ami = "ami-0d4c3b2a1f0e9d8c7" }\n'
    put("archive", "escapes.tar", tar_bytes([
        {"name": "terraform/main.tf", "data": tf},
        {"name": "../up.tf", "data": tf},
        {"name": "terraform/../../up2.tf", "data": tf},
        {"name": "/abs.tf", "data": tf},
        {"name": "./././ok.tf", "data": tf},
        {"name": "terraform//x//y.tf", "data": tf}]))
    put("archive", "links.tar", tar_bytes([
        {"name": "terraform", "type": tarfile.DIRTYPE},
        {"name": "terraform/sym", "type": tarfile.SYMTYPE, "link": "/etc"},
        {"name": "terraform/sym/passwd.tf", "data": tf},
        {"name": "terraform/hard.tf", "type": tarfile.LNKTYPE, "link": "/etc/passwd"},
        {"name": "terraform/fifo", "type": tarfile.FIFOTYPE},
        {"name": "terraform/dev", "type": tarfile.CHRTYPE}]))
    put("archive", "clashes.tar", tar_bytes([
        {"name": "a.tf", "data": tf},
        {"name": "a.tf", "data": b"again"},
        {"name": "a.tf/b.tf", "data": tf},
        {"name": "d", "type": tarfile.DIRTYPE},
        {"name": "d", "data": tf},
        {"name": ".", "type": tarfile.DIRTYPE},
        {"name": "./", "data": tf}]))
    put("archive", "deep-long.tar", tar_bytes([
        {"name": "/".join(["d"] * 70) + "/x.tf", "data": tf},
        {"name": "n" * 300 + ".tf", "data": tf}]))
    put("archive", "pax.tar", tar_bytes([
        {"name": "terraform/" + "p" * 120 + ".tfvars", "data": b'img = "ami-0a1b2c3d4e5f60718"'},
        {"name": "terraform/m\u00e9.tf", "data": tf}], fmt=tarfile.PAX_FORMAT))
    put("archive", "setuid.tar", tar_bytes([{"name": "s.tf", "data": tf, "mode": 0o6777}]))


def api_bodies():
    bodies = {
        "bucket.json": {"name": "web-app", "description": "Web tier", "labels": {"team": "platform"}},
        "bucket-update.json": {"description": "", "labels": {"a": "b", "c": 1}},
        "version.json": {"fingerprint": "4f53e0b"},
        "build.json": {"component_type": "amazon-ebs.ubuntu", "platform": "aws",
                       "status": "BUILD_RUNNING", "packer_run_uuid": "run-2",
                       "source_external_identifier": "ami-0e1f2a3b4c5d6e7f8",
                       "labels": {"os": "ubuntu"}},
        "build-done.json": {"status": "BUILD_DONE", "artifacts": [
            {"external_identifier": "ami-0a1b2c3d4e5f60718", "region": "us-east-1"},
            {"external_identifier": "ami-0a1b2c3d4e5f60719", "region": None}],
            "metadata": {"x": 1}, "parent_version_id": "p"},
        "revoke.json": {"revoke_at": "2026-11-25T09:00:00Z", "revocation_message": "CVE-2026-1234",
                        "disable_rollback_channels": True, "skip_descendants_revocation": False},
        "revoke-in.json": {"revoke_in": "0s"},
        "revoke-both.json": {"revoke_at": "2026-11-25T09:00:00Z", "revoke_in": "30d"},
        "restore.json": {"restore": True},
        "complete.json": {"complete": True},
        "channel.json": {"name": "staging", "version_fingerprint": "fp-1", "restricted": True},
        "channel-patch.json": {"version_fingerprint": "", "restricted": False,
                               "update_mask": "versionFingerprint,restricted"},
        "channel-unset.json": {"version_fingerprint": None, "update_mask": "restricted"},
        "assign.json": {"target_channel": "production", "version_fingerprint": "fp-1"},
        "assign-source.json": {"target_channel": "qa", "source_channel": "prod"},
        "search.json": {"external_identifier": "AMI-0D4C3B2A1F0E9D8C7", "platform": "aws",
                        "region": "us-west-1"},
        "token.json": {"name": "ci.deploy_1", "role": "write"},
        "types.json": {"name": 1, "labels": [], "restricted": "yes", "artifacts": {},
                       "status": "BUILD_WHAT", "fingerprint": ["x"]},
    }
    for name, body in bodies.items():
        put("api_body", name, json.dumps(body))
    put("api_body", "dup-keys.json", '{"name":"a","name":"b"}')
    put("api_body", "path-version",
        "organizations/acme/projects/images/buckets/web-app/versions/4f53e0b/builds/01JD")
    put("api_body", "path-tokens", "/v1/tokens/ci-deploy")
    put("api_body", "query", "pagination.page_size=5&pagination.next_page_token=100&since=24h"
        "&bucket=web%20app&x&y=%ZZ")
    put("api_body", "audit-token", "1795165200000_01JD0000000000000000000001")
    put("api_body", "bearer", "Bearer igt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")


def oauth():
    import base64
    basic = "Basic " + base64.b64encode(b"packer:igt_secret").decode()
    put("oauth", "basic", basic + "\naudience=https%3A%2F%2Fapi.hashicorp.cloud"
        "&grant_type=client_credentials")
    put("oauth", "form", "grant_type=client_credentials&client_id=packer&client_secret=igt_s")
    put("oauth", "escaped", "Basic " + base64.b64encode(b"%70ack+er:a%2Bb").decode()
        + "\ngrant_type=client_credentials")
    put("oauth", "both", basic + "\ngrant_type=client_credentials&client_secret=x")
    put("oauth", "bad-padding", "Basic cGFja2Vy=OnM=\ngrant_type=client_credentials")
    put("oauth", "password", basic + "\ngrant_type=password&username=a&password=b")
    put("oauth", "dup", "\ngrant_type=client_credentials&grant_type=client_credentials")


if __name__ == "__main__":
    oauth()
    framing()
    api_bodies()
    plans()
    config_text()
    manifests()
    rules()
    policies()
    runtask()
    archives()
