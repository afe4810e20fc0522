"""The admin form of a partner connection: secrets are write-only.

Each secret is a field that renders empty every time (never its stored value), with a note saying
whether one is stored. Left blank, the stored secret is kept; a "clear" box removes it. The form
hands plaintext to `partner_connection_save`, which seals it before anything is written.
"""

from __future__ import annotations

from django import forms

from partners.connections import EDITABLE, SECRET_COLUMNS
from partners.models import PartnerConnection

SECRET_LABELS = {
    "as2_private_key": "our AS2 private key (PEM)",
    "sftp_password": "SFTP password",
    "sftp_private_key": "SFTP private key (OpenSSH or PEM)",
    "https_auth": "HTTPS auth header value",
}


class PartnerConnectionForm(forms.ModelForm):
    as2_url = forms.URLField(label="their AS2 URL", required=False, max_length=500, assume_scheme="https")
    https_url = forms.URLField(label="their HTTPS URL", required=False, max_length=500, assume_scheme="https")
    as2_private_key = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), strip=True)
    sftp_password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), strip=False)
    sftp_private_key = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), strip=True)
    https_auth = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), strip=False)
    clear_secrets = forms.MultipleChoiceField(
        required=False,
        choices=list(SECRET_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        help_text="Remove these stored secrets.",
    )

    class Meta:
        model = PartnerConnection
        fields = ["supplier", *sorted(EDITABLE)]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in SECRET_LABELS.items():
            stored = bool(self.instance.pk and getattr(self.instance, SECRET_COLUMNS[name]))
            self.fields[name].label = label
            self.fields[name].initial = ""
            self.fields[name].help_text = (
                "A value is stored (never shown). Leave blank to keep it." if stored else "Nothing stored."
            )

    def secrets_given(self) -> dict[str, str]:
        """Plaintext to store: typed values, and "" for the ones ticked to clear."""
        given = {name: self.cleaned_data[name] for name in SECRET_LABELS if self.cleaned_data.get(name)}
        for name in self.cleaned_data.get("clear_secrets") or []:
            given[name] = ""
        return given
