import Foundation

/// The JSON coders of the bridge.
///
/// Every model spells its wire names in explicit `CodingKeys` (snake_case raw values), so the coders use
/// the default key strategies: `convertFromSnakeCase` would also rewrite the keys of open-ended objects
/// (clause names such as `EVIDENCE_COMPLETENESS`, the keys of a working spec) and then no longer match
/// the explicit keys. Dates travel as ISO 8601 (`2026-11-25T12:00:00Z`), fractional seconds accepted.
public enum JudgeJSON {
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatISO8601(date))
        }
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseISO8601(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "expected an ISO 8601 date-time, got \(text)")
            }
            return date
        }
        return decoder
    }

    /// `2026-11-25T12:00:00Z`, or with milliseconds when the date has a fractional second.
    public static func formatISO8601(_ date: Date) -> String {
        let whole = date.timeIntervalSince1970.rounded(.down) == date.timeIntervalSince1970
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = whole ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Parses `2026-11-25T12:00:00Z`, `2026-11-25T12:00:00.123456+00:00` and the like.
    public static func parseISO8601(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) {
            return date
        }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) {
            return date
        }
        // ISO8601DateFormatter reads at most milliseconds; Python writes microseconds: keep three digits.
        guard let dot = text.firstIndex(of: "."), let zone = text[dot...].firstIndex(where: { "Z+-".contains($0) })
        else {
            return nil
        }
        let digits = text[text.index(after: dot)..<zone].prefix(3)
        return fractional.date(from: String(text[..<dot]) + "." + digits + String(text[zone...]))
    }
}
