"""Per-project pseudonyms: deterministic (same input, same pseudonym, so re-imports dedupe) and recorded.

The originals and date offsets are written to PseudonymMap, which only project admins can read.
"""

from __future__ import annotations

import secrets

from ..models import DeidKey, Project, PseudonymMap


def project_secret(project: Project) -> bytes:
    key = DeidKey.objects.filter(project=project).first()
    if key is None:
        DeidKey.objects.get_or_create(project=project, defaults={"secret": secrets.token_hex(32)})
        key = DeidKey.objects.get(project=project)
    return bytes.fromhex(key.secret)


class Pseudonymizer:
    """Maps originals to pseudonyms for one project and queues new PseudonymMap rows for a batch write."""

    def __init__(self, project: Project):
        from ..dicomio.deid import date_offset_for, pseudonym_for, uid_remapper

        self.project = project
        self.secret = project_secret(project)
        self._pseudonym_for = pseudonym_for
        self._date_offset_for = date_offset_for
        self._uid = uid_remapper(self.secret)
        self._seen: dict[tuple[str, str], str] = {}
        self._pending: list[PseudonymMap] = []

    def _record(self, kind: str, original: str, pseudonym: str, offset: int | None = None) -> str:
        key = (kind, original)
        if key not in self._seen:
            self._seen[key] = pseudonym
            self._pending.append(
                PseudonymMap(
                    project=self.project,
                    kind=kind,
                    original=original[:256],
                    pseudonym=pseudonym,
                    date_offset_days=offset,
                )
            )
        return pseudonym

    def patient(self, original: str) -> tuple[str, int]:
        offset = self._date_offset_for(self.secret, original)
        pseudo = self._seen.get((PseudonymMap.Kind.PATIENT, original)) or self._pseudonym_for(
            self.secret, "patient", original
        )
        return self._record(PseudonymMap.Kind.PATIENT, original, pseudo, offset), offset

    def accession(self, original: str) -> str:
        if not original:
            return ""
        return self._record(
            PseudonymMap.Kind.ACCESSION, original, self._pseudonym_for(self.secret, "accession", original)
        )

    def key(self, kind: str, original: str) -> str:
        return self._record(kind, original, self._pseudonym_for(self.secret, kind, original))

    def uid(self, original: str) -> str:
        """UID remapping used by de-identification; recorded so admins can trace a file back."""
        if not original:
            return original
        cached = self._seen.get((PseudonymMap.Kind.UID, original))
        if cached:
            return cached
        return self._record(PseudonymMap.Kind.UID, original, self._uid(original))

    def source_path(self, original: str, image_key: str) -> str:
        """A server file whose path names a patient: the render job looks it up here by image key."""
        if len(original) > 256:
            raise ValueError("the file's path is over 256 characters, too long to keep apart from the study")
        return self._record(PseudonymMap.Kind.PATH, original, image_key)

    def flush(self) -> int:
        """Write the new mappings (inside the caller's transaction)."""
        if not self._pending:
            return 0
        PseudonymMap.objects.bulk_create(self._pending, ignore_conflicts=True, batch_size=2000)
        written = len(self._pending)
        self._pending = []
        return written
