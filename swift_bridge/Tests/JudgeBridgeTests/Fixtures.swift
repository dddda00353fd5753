import Foundation
import XCTest

@testable import JudgeBridge

/// The responses recorded from the live service and the request bodies sent to it (`Tests/Fixtures`),
/// shared with the Python contract test `tests/swift_bridge/test_fixture_contract.py`.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    static func text(_ name: String) throws -> String {
        String(decoding: try data(name), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JudgeJSON.makeDecoder().decode(T.self, from: data(name))
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data(name))
    }

    /// A value encoded by the bridge's encoder, read back as a JSON value for structural comparison.
    static func encoded<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JudgeJSON.makeEncoder().encode(value))
    }
}
