"""Drive an SSH agent with paramiko: list its keys, sign with each, and log in to an sshd with it.

usage: paramiko_agent.py HOST PORT USER KNOWN_HOSTS
Reads SSH_AUTH_SOCK; prints one JSON object on stdout.
"""
import base64
import hashlib
import json
import sys

import paramiko
from paramiko.message import Message

KEY_CLASSES = {
    "ssh-ed25519": paramiko.Ed25519Key,
    "ssh-rsa": paramiko.RSAKey,
    "ecdsa-sha2-nistp256": paramiko.ECDSAKey,
    "ecdsa-sha2-nistp384": paramiko.ECDSAKey,
    "ecdsa-sha2-nistp521": paramiko.ECDSAKey,
}


def fingerprint(blob):
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def main():
    host, port, user, known_hosts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    out = {"paramiko": paramiko.__version__, "keys": [], "signatures": []}
    agent = paramiko.Agent()
    keys = agent.get_keys()
    for k in keys:
        comment = getattr(k, "comment", b"")
        if isinstance(comment, bytes):
            comment = comment.decode(errors="replace")
        out["keys"].append({"type": k.get_name(), "fingerprint": fingerprint(k.asbytes()), "comment": comment})

    data = b"vigil e2e: paramiko signs this"
    for k in keys:
        sig = k.sign_ssh_data(data)
        msg = Message(sig)
        alg = msg.get_text()
        pub = KEY_CLASSES[k.get_name()](data=k.asbytes())
        ok = pub.verify_ssh_sig(data, Message(sig))
        out["signatures"].append({"fingerprint": fingerprint(k.asbytes()), "alg": alg, "verified": bool(ok)})
    agent.close()

    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, port=port, username=user, allow_agent=True, look_for_keys=False,
                   timeout=20, auth_timeout=20, banner_timeout=20)
    _, stdout, _ = client.exec_command("echo ok")
    out["exec"] = stdout.read().decode().strip()
    client.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
