"""The public pages of contests: `/contests/<id>` (HTML) and `/contests/<id>/draw.json`."""
