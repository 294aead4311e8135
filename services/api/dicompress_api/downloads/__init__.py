"""Downloads of a study's originals: GET /studies/{id}/download[?series=&zStart=&zEnd=].

The stored instances of the tenant's study (or of one series, or of a slice range of it in
anatomical order) as one ZIP streamed from S3 to the client: entries stored (DICOM is
compressed already), their sizes known from the study index, so the archive's length is known
before its first byte (Content-Length) and memory stays at one chunk per request.

`selection` (pure) picks the entries and names them, `archive` lays them out as a sized ZIP
stream, `objects` reads them from S3, `routes` and `composition` put it on the app.
"""
