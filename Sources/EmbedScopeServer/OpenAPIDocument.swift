/// The API described as OpenAPI 3.1, served at /api/openapi.json (docs/http-api.md says the same in prose).
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {"title": "EmbedScope", "version": "0.1.0",
           "description": "Embedding similarity search over the indexes that `embedscope serve` found. JSON shapes are those of the CLI's --json. Errors: {\"error\":{\"kind\",\"message\"}} with 400, 403, 404, 413, 415 or 500."},
  "paths": {
    "/api/indexes": {"get": {"summary": "Every index: rows, spaces, classes, prototype sets, model, metrics rows", "responses": {"200": {"description": "{\"indexes\":[…]}", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IndexList"}}}}}}},
    "/api/indexes/{name}": {"get": {"summary": "One index (as an entry of /api/indexes)", "parameters": [{"$ref": "#/components/parameters/name"}], "responses": {"200": {"description": "the index"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/query": {
      "get": {"summary": "Nearest (or farthest) images to a row or catalog path, as `embedscope query --json`",
        "parameters": [{"$ref": "#/components/parameters/name"},
          {"name": "row", "in": "query", "schema": {"type": "integer", "minimum": 0}},
          {"name": "path", "in": "query", "schema": {"type": "string"}, "description": "catalog path, relative to the data-set root"},
          {"$ref": "#/components/parameters/space"}, {"$ref": "#/components/parameters/k"},
          {"name": "farthest", "in": "query", "schema": {"type": "boolean"}},
          {"name": "class", "in": "query", "schema": {"type": "string"}},
          {"name": "includeSelf", "in": "query", "schema": {"type": "boolean"}}],
        "responses": {"200": {"$ref": "#/components/responses/Results"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
      "post": {"summary": "Nearest (or farthest) images to an uploaded PNG/JPEG (raw body or multipart/form-data), embedded with the index's model or as pixels",
        "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/space"}, {"$ref": "#/components/parameters/k"},
          {"name": "farthest", "in": "query", "schema": {"type": "boolean"}}, {"name": "class", "in": "query", "schema": {"type": "string"}}],
        "requestBody": {"content": {"image/png": {}, "image/jpeg": {}, "multipart/form-data": {}}},
        "responses": {"200": {"$ref": "#/components/responses/Results"}, "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/rank": {"get": {"summary": "Images by a prototype's logit, as `embedscope rank --json`",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"name": "prototype", "in": "query", "required": true, "schema": {"type": "string"}},
        {"name": "set", "in": "query", "schema": {"type": "string"}}, {"$ref": "#/components/parameters/k"},
        {"name": "least", "in": "query", "schema": {"type": "boolean"}}, {"name": "class", "in": "query", "schema": {"type": "string"}}],
      "responses": {"200": {"$ref": "#/components/responses/Results"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/projection": {"get": {"summary": "PCA or LDA (2 components) of every row, computed once per index and space",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/space"},
        {"name": "method", "in": "query", "schema": {"type": "string", "enum": ["pca", "lda"]}}],
      "responses": {"200": {"description": "{\"points\":[{\"row\",\"x\",\"y\",\"class\",\"path\"}],\"explainedVarianceRatio\":[…],\"axisLabels\":[…],…}"}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/metrics": {"get": {"summary": "Cluster metrics of a space, as `embedscope metrics --json` (sampled silhouette above 20,000 rows)",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/space"}], "responses": {"200": {"description": "ClusterMetricsReport"}}}},
    "/api/indexes/{name}/evaluate": {"get": {"summary": "A prototype set as a classifier, as `embedscope evaluate --json`",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"name": "set", "in": "query", "required": true, "schema": {"type": "string"}},
        {"name": "lowest", "in": "query", "schema": {"type": "integer", "minimum": 0}}], "responses": {"200": {"description": "PrototypeEvaluation"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/evaluate/cell": {"get": {"summary": "The images of one confusion-matrix cell",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"name": "set", "in": "query", "required": true, "schema": {"type": "string"}},
        {"name": "true", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "predicted", "in": "query", "required": true, "schema": {"type": "string"}},
        {"$ref": "#/components/parameters/k"}], "responses": {"200": {"description": "{\"set\",\"true\",\"predicted\",\"count\",\"results\":[…]}"}}}},
    "/api/indexes/{name}/prototypes": {"get": {"summary": "A row's top prototype logits in each prototype set",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"name": "row", "in": "query", "required": true, "schema": {"type": "integer"}}, {"$ref": "#/components/parameters/k"}],
      "responses": {"200": {"description": "{\"row\",\"sets\":[{\"set\",\"space\",\"top\":[{\"name\",\"logit\"}]}]}"}}}},
    "/api/indexes/{name}/prototypes/names": {"get": {"summary": "Every prototype name of one set, in the set's order (the index list gives a sample of 5)",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"name": "set", "in": "query", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "{\"set\",\"space\",\"count\",\"names\":[…]}"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/images/{row}": {"get": {"summary": "The original image file of a row (only files under the data-set root)",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/row"}],
      "responses": {"200": {"description": "PNG or JPEG bytes", "content": {"image/png": {}, "image/jpeg": {}}}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/thumbs/{row}": {"get": {"summary": "A PNG thumbnail of a row (cached)",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/row"},
        {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 8, "maximum": 512}}],
      "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/api/indexes/{name}/predictions": {"get": {"summary": "Every row's top prototype of a set and its margin (top-1 − top-2 logit), for colouring the scatter",
      "parameters": [{"$ref": "#/components/parameters/name"}, {"name": "set", "in": "query", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "{\"set\",\"space\",\"rows\",\"names\":[…],\"predicted\":[index into names per row],\"margin\":[per row]}"}}}},
    "/api/compare": {"get": {"summary": "The comparison table of `embedscope compare --json` (from metrics.json; with perClass=true also per-class silhouette and precision@k, computed once)",
      "parameters": [{"name": "index", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["silhouette", "db", "ch", "precision", "knn", "probe", "name"]}},
        {"name": "space", "in": "query", "schema": {"type": "string"}}, {"name": "perClass", "in": "query", "schema": {"type": "boolean"}}, {"$ref": "#/components/parameters/k"}],
      "responses": {"200": {"description": "{\"entries\":[…, \"perClass\":[{\"id\",\"name\",\"rows\",\"silhouette\",\"precisionAtK\"}], \"perClassK\", \"perClassSample\", \"perClassError\"]}"}}}},
    "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
  },
  "components": {
    "parameters": {
      "name": {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "the index's folder name"},
      "row": {"name": "row", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}},
      "space": {"name": "space", "in": "query", "schema": {"type": "string"}, "description": "default: embedding if present, else the first space"},
      "k": {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}
    },
    "responses": {
      "Results": {"description": "{\"results\":[…]}", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Results"}}}},
      "Error": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Result": {"type": "object", "required": ["rank", "row", "path", "class", "score"],
        "properties": {"rank": {"type": "integer"}, "row": {"type": "integer"}, "path": {"type": "string"}, "class": {"type": "string"}, "score": {"type": "number"}}},
      "Results": {"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}}}},
      "IndexList": {"type": "object", "properties": {"indexes": {"type": "array", "items": {"type": "object"}}}},
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["kind", "message"],
        "properties": {"kind": {"type": "string"}, "message": {"type": "string"}}}}}
    }
  }
}
"""#
}
