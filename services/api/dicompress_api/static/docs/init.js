// Starts Swagger UI on the API's own OpenAPI document. A file, not an inline script, so the
// page runs under `script-src 'self'` (web/docs.py sets the policy).
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
