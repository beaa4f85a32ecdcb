import Foundation

/// The current time as ISO 8601 (UTC), as recorded in catalogs and metrics.json.
package func isoNow() -> String { ISO8601DateFormatter().string(from: Date()) }
