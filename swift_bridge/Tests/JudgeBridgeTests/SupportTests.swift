import Foundation
import XCTest

@testable import JudgeBridge

/// The server-sent events parser, the byte-level tokenizer tables and the Judge's calibration.
final class SupportTests: XCTestCase {
    func testEventsSplitAtBlankLines() {
        let body = ": comment\r\ndata: {\"a\": 1}\r\n\r\nevent: x\ndata: one\ndata: two\n\n"
        let events = ServerSentEventParser.events(in: body)
        XCTAssertEqual(events, [ServerSentEvent(data: "{\"a\": 1}"), ServerSentEvent(event: "x", data: "one\ntwo")])
    }

    func testLineSplitterKeepsMultiByteCharacters() {
        var splitter = LineSplitter()
        var lines: [String] = []
        for byte in Array("é😀\r\nrest".utf8) {
            if let line = splitter.push(byte) {
                lines.append(line)
            }
        }
        XCTAssertEqual(lines, ["é😀"])
        XCTAssertEqual(splitter.finish(), "rest")
    }

    func testByteLevelAlphabet() {
        let table = JudgeTokenizer.byteLevelAlphabet()
        XCTAssertEqual(Set(table).count, 256)
        XCTAssertEqual(table[Int(UInt8(ascii: "a"))], "a")
        XCTAssertEqual(table[Int(UInt8(ascii: " "))], "\u{0120}")  // Ġ
        XCTAssertEqual(table[Int(UInt8(ascii: "\n"))], "\u{010A}")  // Ċ
    }

    func testTokenizerFollowsTheTrainedPipeline() throws {
        // A vocabulary of the byte-level alphabet plus two merges: "Ġ" + "a" and "Ġa" + "b".
        var vocab: [String: JSONValue] = [:]
        for (index, symbol) in JudgeTokenizer.byteLevelAlphabet().enumerated() {
            vocab[symbol] = .number(Double(index + 2))
        }
        vocab["\u{0120}a"] = 258
        vocab["\u{0120}ab"] = 259
        let file: JSONValue = [
            "model": ["type": "BPE", "vocab": .object(vocab), "merges": [["\u{0120}", "a"], "\u{0120}a b"]],
            "added_tokens": [["id": 0, "content": "<|pad|>"], ["id": 1, "content": "<|bos|>"]],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": true],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            ]],
        ]
        let tokenizer = try JudgeTokenizer(file: JSONDecoder().decode(TokenizerFile.self,
                                                                      from: JSONEncoder().encode(file)))
        let byte = { (character: Character) in Int(character.asciiValue!) + 2 }
        XCTAssertEqual(tokenizer.encode(" ab"), [259])
        XCTAssertEqual(tokenizer.encode("<|bos|> a12"), [1, 258, byte("1"), byte("2")])
        XCTAssertEqual(tokenizer.id(ofAddedToken: "<|bos|>"), 1)
    }

    func testIdentityCalibrationIsThePlainSigmoid() {
        let identity = JudgeCalibration.identity
        XCTAssertEqual(identity.scoreProbability(0), 0.5)
        XCTAssertEqual(identity.clauseProbability("GATE_INTEGRITY", logit: 2), 1 / (1 + exp(-2)), accuracy: 1e-12)
        XCTAssertEqual(Set(identity.clauses.keys), Set(judgeClauses))
        XCTAssertEqual(identity.pair.tieMargin, 0)
    }

    func testCalibrationFileOfTheJudgeTrainer() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertNil(try JudgeCalibration.load(directory: directory))
        let clauses = judgeClauses.map { #""\#($0)": {"temperature": 2.0, "threshold": 0.4}"# }.joined(separator: ", ")
        let json = #"{"version": 1, "score": {"a": 0.5, "b": 0.1, "target": "arbiter status PASS"}, "#
            + #""pair": {"a": 3.0, "tie_margin": 0.05}, "clauses": {\#(clauses)}}"#
        try Data(json.utf8).write(to: directory.appendingPathComponent(JudgeCalibration.fileName))
        let calibration = try XCTUnwrap(try JudgeCalibration.load(directory: directory))
        XCTAssertEqual(calibration.scoreProbability(2), 1 / (1 + exp(-1.1)), accuracy: 1e-12)
        XCTAssertEqual(calibration.clauseProbability("BUDGET_ADHERENCE", logit: 2), 1 / (1 + exp(-1)), accuracy: 1e-12)
        XCTAssertEqual(calibration.preferenceProbability(rawDifference: 0), 0.5)
        XCTAssertEqual(calibration.pair.tieMargin, 0.05)
        XCTAssertEqual(calibration.clause("GATE_INTEGRITY").threshold, 0.4)
    }

    func testExportContractLengths() throws {
        let json = #"""
            {"contract_version": 1, "format": "coreml", "package": "model.mlpackage",
             "source": {"role": "judge", "tokenizer_sha256": "00"},
             "model": {"vocab_size": 512, "max_seq_len": 2048, "pad_token_id": 0, "bos_token_id": 1},
             "functions": {"main": {
               "inputs": [{"name": "input_ids", "dtype": "int32", "shape": [1, [512, 1024, 2048]]},
                          {"name": "length", "dtype": "int32", "shape": [1]}],
               "outputs": [{"name": "score", "dtype": "float16", "shape": [1]},
                           {"name": "clause_logits", "dtype": "float16", "shape": [1, 5]}],
               "states": []}}}
            """#
        let contract = try JSONDecoder().decode(JudgeExportContract.self, from: Data(json.utf8))
        XCTAssertEqual(try contract.judgeLengths(), [512, 1024, 2048])
    }
}
