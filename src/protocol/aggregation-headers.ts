/**
 * Header names the aggregation server and the federated client agree on. Imports nothing, so the
 * client (in the engine worker) can use them without pulling any server code or schema builder in.
 */

/** The site's upload key, on `POST /v1/rounds/:id/updates`. */
export const SITE_KEY_HEADER = 'x-hearth-site-key';
/** The version of the model served by `GET /v1/model` and `/v1/model/weights.bin`. */
export const MODEL_VERSION_HEADER = 'x-hearth-model-version';
