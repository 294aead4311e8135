"""Uploads of studies: presigned multipart straight to S3, or streamed through the API.

Both end in one `ArchiveUploaded` on the ingest requests topic. The modules, from the edge in:
`routes` (HTTP), `models` (request and response bodies), `presigned` and `streamed` (the two
ways in), `sweep` (aborts abandoned uploads), `multipart` (S3) and `records` (the `api_uploads`
table) as adapters, and the pure rules `names` (safe object names) and `parts` (part sizes).
"""
