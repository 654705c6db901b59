"""A throwaway OpenLDAP directory for the sign-in tests: Debian's slapd on a free loopback port, with its own
config and mdb database in a temporary folder, a few people and groups, and admin helpers to change them."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import ldap
import ldap.modlist

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA = Path("/etc/ldap/schema")
SUFFIX = "dc=hospital,dc=test"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
POSIX_GROUPS = f"ou=posixgroups,{SUFFIX}"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-secret"
# The account the site binds as to look people up (a read-only service account, as in a hospital).
BIND_DN = f"cn=cxr-curator,ou=services,{SUFFIX}"
BIND_PASSWORD = "service-account-secret"


def slapd_installed() -> bool:
    return os.access(SLAPD, os.X_OK) and os.access(SLAPADD, os.X_OK)


def ssha(password: str) -> str:
    """userPassword value in slapd's salted SHA-1 scheme, as slappasswd writes it."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 -- the scheme slapd checks
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


@dataclass
class Person:
    uid: str
    password: str
    given_name: str
    surname: str
    mail: str
    number: int
    display_name: str = ""

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE}"


@dataclass
class Group:
    cn: str
    members: list[str] = field(default_factory=list)  # uids

    @property
    def dn(self) -> str:
        return f"cn={self.cn},{GROUPS}"


def _ldif_value(name: str, value: str) -> str:
    # Base64 for anything LDIF cannot hold as plain text (control characters, leading spaces, non-ASCII).
    plain = value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<"))
    return f"{name}: {value}" if plain else f"{name}:: {base64.b64encode(value.encode()).decode()}"


class Slapd:
    """One slapd process. start() writes the config and data, starts it and waits until the admin can bind."""

    def __init__(self, folder: Path, people: list[Person], groups: list[Group]):
        self.folder = folder
        self.people = {p.uid: p for p in people}
        self.groups = {g.cn: g for g in groups}
        self.port = _free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    # --- lifecycle ---
    def start(self, timeout: float = 30) -> Slapd:
        (self.folder / "db").mkdir(parents=True, exist_ok=True)
        self.ca_file = write_certificates(self.folder)
        conf = self.folder / "slapd.conf"
        conf.write_text(self._config())
        data = self.folder / "data.ldif"
        data.write_text(self._ldif())
        subprocess.run([SLAPADD, "-q", "-f", str(conf), "-l", str(data)], check=True, capture_output=True, text=True)
        self.log = (self.folder / "slapd.log").open("w")
        # -d keeps slapd in the foreground (no fork), so this process is the server and can be stopped.
        self.proc = subprocess.Popen(
            [SLAPD, "-h", self.uri, "-f", str(conf), "-d", "0"], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("slapd exited early:\n" + (self.folder / "slapd.log").read_text())
            try:
                self.admin().unbind_s()
                return self
            except ldap.LDAPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"slapd did not answer on {self.uri} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        if getattr(self, "log", None):
            self.log.close()

    # --- admin changes ---
    def admin(self):
        conn = ldap.initialize(self.uri)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        conn.set_option(ldap.OPT_TIMEOUT, 5)
        conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        return conn

    def remove_member(self, group_cn: str, uid: str) -> None:
        """What the directory's admin does: take `uid` out of a group."""
        conn = self.admin()
        try:
            conn.modify_s(self.groups[group_cn].dn, [(ldap.MOD_DELETE, "member", [self.people[uid].dn.encode()])])
        finally:
            conn.unbind_s()

    def add_member(self, group_cn: str, uid: str) -> None:
        conn = self.admin()
        try:
            conn.modify_s(self.groups[group_cn].dn, [(ldap.MOD_ADD, "member", [self.people[uid].dn.encode()])])
        finally:
            conn.unbind_s()

    def reset(self) -> None:
        """Every group's members back to the starting ones (tests share one server)."""
        conn = self.admin()
        try:
            for group in self.groups.values():
                members = [self.people[uid].dn.encode() for uid in group.members]
                conn.modify_s(group.dn, [(ldap.MOD_REPLACE, "member", members)])
        finally:
            conn.unbind_s()

    # --- files ---
    def _config(self) -> str:
        schemas = "\n".join(f"include {SCHEMA / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis"))
        return f"""{schemas}
pidfile {self.folder / "slapd.pid"}
argsfile {self.folder / "slapd.args"}
modulepath /usr/lib/ldap
moduleload back_mdb
# StartTLS with a certificate for 127.0.0.1 from a throwaway CA (ca.pem): clients that trust it may upgrade.
TLSCertificateFile {self.folder / "server.pem"}
TLSCertificateKeyFile {self.folder / "server.key"}
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ssha(ADMIN_PASSWORD)}
directory {self.folder / "db"}
# As a hospital directory: passwords are only ever compared, and only signed-in accounts may read.
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""

    def _ldif(self) -> str:
        entries = [
            [f"dn: {SUFFIX}", "objectClass: dcObject", "objectClass: organization", "o: Hospital", "dc: hospital"],
            *(
                [f"dn: ou={ou},{SUFFIX}", "objectClass: organizationalUnit", f"ou: {ou}"]
                for ou in ("people", "groups", "posixgroups", "services")
            ),
            [
                f"dn: {BIND_DN}",
                "objectClass: organizationalRole",
                "objectClass: simpleSecurityObject",
                "cn: cxr-curator",
                f"userPassword: {ssha(BIND_PASSWORD)}",
            ],
        ]
        for p in self.people.values():
            entry = [
                f"dn: {p.dn}",
                "objectClass: inetOrgPerson",
                "objectClass: posixAccount",
                f"uid: {p.uid}",
                _ldif_value("cn", f"{p.given_name} {p.surname}".strip() or p.uid),
                _ldif_value("givenName", p.given_name),
                _ldif_value("sn", p.surname),
                _ldif_value("mail", p.mail),
                f"uidNumber: {p.number}",
                f"gidNumber: {p.number}",
                f"homeDirectory: /home/{p.uid}",
                f"userPassword: {ssha(p.password)}",
            ]
            if p.display_name:
                entry.append(_ldif_value("displayName", p.display_name))
            entries.append(entry)
        for number, g in enumerate(self.groups.values(), start=5000):
            entries.append(
                [f"dn: {g.dn}", "objectClass: groupOfNames", f"cn: {g.cn}"]
                + [f"member: {self.people[uid].dn}" for uid in g.members]
            )
            # The same group as a posixGroup (memberUid), for LDAP_GROUP_TYPE=posixGroup.
            entries.append(
                [f"dn: cn={g.cn},{POSIX_GROUPS}", "objectClass: posixGroup", f"cn: {g.cn}", f"gidNumber: {number}"]
                + [f"memberUid: {uid}" for uid in g.members]
            )
        return "\n\n".join("\n".join(entry) for entry in entries) + "\n"


def write_certificates(folder: Path) -> Path:
    """A throwaway CA (ca.pem) and a server certificate for 127.0.0.1 it signed (server.pem, server.key)."""
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(subject, issuer, public_key, signing_key, *, ca: bool, extensions=()):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test hospital CA", "Test hospital CA", ca_key.public_key(), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")])
    server = certificate("127.0.0.1", "Test hospital CA", server_key.public_key(), ca_key, ca=False, extensions=[names])
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "ca.pem"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
