import Foundation

/// One server-sent event: its `data` lines joined by newlines, with the optional `event` and `id` fields.
public struct ServerSentEvent: Hashable, Sendable {
    public var event: String?
    public var id: String?
    public var data: String

    public init(event: String? = nil, id: String? = nil, data: String) {
        self.event = event
        self.id = id
        self.data = data
    }
}

/// An incremental parser of `text/event-stream` (the WHATWG server-sent events format), fed line by line.
/// An event ends at a blank line; comment lines (`:`) and unknown fields are skipped.
public struct ServerSentEventParser: Sendable {
    private var event: String?
    private var id: String?
    private var data: [String] = []

    public init() {}

    /// Feeds one line (without its line terminator); returns the event a blank line completes.
    public mutating func feed(line: String) -> ServerSentEvent? {
        if line.isEmpty {
            return dispatch()
        }
        if line.hasPrefix(":") {
            return nil
        }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") {
                value = value.dropFirst()
            }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "data":
            data.append(String(value))
        case "event":
            event = String(value)
        case "id":
            id = String(value)
        default:
            break
        }
        return nil
    }

    /// The event still pending when the stream ends without a final blank line.
    public mutating func finish() -> ServerSentEvent? {
        dispatch()
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            event = nil
            data = []
        }
        guard !data.isEmpty else {
            return nil
        }
        return ServerSentEvent(event: event, id: id, data: data.joined(separator: "\n"))
    }

    /// Every event of a complete stream body.
    public static func events(in text: String) -> [ServerSentEvent] {
        // Lines are split on bytes: as Characters, "\r\n" is one grapheme that never equals "\n".
        var lines = LineSplitter()
        var parser = ServerSentEventParser()
        var events: [ServerSentEvent] = []
        for byte in text.utf8 {
            if let line = lines.push(byte), let event = parser.feed(line: line) {
                events.append(event)
            }
        }
        if let line = lines.finish(), let event = parser.feed(line: line) {
            events.append(event)
        }
        if let event = parser.finish() {
            events.append(event)
        }
        return events
    }
}

/// Splits a byte stream into lines at `\n`, dropping a `\r` before it; UTF-8 is decoded per whole line,
/// so a multi-byte character split across network reads stays intact.
struct LineSplitter {
    private var buffer: [UInt8] = []

    mutating func push(_ byte: UInt8) -> String? {
        guard byte == UInt8(ascii: "\n") else {
            buffer.append(byte)
            return nil
        }
        if buffer.last == UInt8(ascii: "\r") {
            buffer.removeLast()
        }
        defer {
            buffer.removeAll(keepingCapacity: true)
        }
        return String(decoding: buffer, as: UTF8.self)
    }

    mutating func finish() -> String? {
        guard !buffer.isEmpty else {
            return nil
        }
        defer {
            buffer.removeAll()
        }
        return String(decoding: buffer, as: UTF8.self)
    }
}
