"""A study's products (previews, thumbnails, 3D snapshots): listed with their state and
short-lived URLs, and requested again or with other parameters.

GET  /studies/{id}/products   every product of the study's series, newest first
POST /studies/{id}/products   ask for products; the same product asked twice is one job
POST /studies/{id}/series/{uid}/mini-ct
                              a region of one series (`mini_ct`, `mini_ct_region`): its URL
                              when it is made, else its job

A product's identity is the contract's (`dicompress_schemas.products.product_key`), from its
parameters and its series' version, so a request names the product the upload made when the
parameters are the same, and the answer is that product's state, not new work.
"""
