import Foundation
import XCTest

@testable import JudgeBridge

/// Requests encode to exactly the bodies recorded in the fixtures (the bodies the live service accepted).
final class EncodingTests: XCTestCase {
    private func assertRoundTrip<T: Codable>(_ type: T.Type, _ name: String, file: StaticString = #filePath,
                                             line: UInt = #line) throws {
        let value = try Fixtures.decode(T.self, name)
        XCTAssertEqual(try Fixtures.encoded(value), try Fixtures.json(name), name, file: file, line: line)
    }

    func testEveryRequestFixtureRoundTrips() throws {
        try assertRoundTrip(AdjudicateRequest.self, "adjudicate.request.json")
        try assertRoundTrip(AdjudicateRequest.self, "adjudicate_failing.request.json")
        try assertRoundTrip(AdjudicateRequest.self, "adjudicate_candidates.request.json")
        try assertRoundTrip(ClaimifyRequest.self, "claimify.request.json")
        try assertRoundTrip(JudgeScoreRequest.self, "judge_score.request.json")
        try assertRoundTrip(JudgeCompareRequest.self, "judge_compare.request.json")
        try assertRoundTrip(ChatCompletionRequest.self, "chat_completion.request.json")
        try assertRoundTrip(ChatCompletionRequest.self, "chat_completion_stream.request.json")
        try assertRoundTrip(JudgeScoreRequest.self, "error_unauthorized.request.json")
    }

    func testAdjudicateRequestBuiltInSwift() throws {
        let recorded = try Fixtures.json("adjudicate.request.json")
        let manifest = try Fixtures.decode(AdjudicateRequest.self, "adjudicate.request.json").evidenceManifest
        let request = AdjudicateRequest(
            changeId: "FEAT-0042-r1",
            workingSpec: try XCTUnwrap(recorded["working_spec"]),
            diff: try XCTUnwrap(recorded["diff"]?.stringValue),
            rationale: try XCTUnwrap(recorded["rationale"]?.stringValue),
            evidenceManifest: try XCTUnwrap(manifest),
            gateResults: GateResults(testsPass: true, lintPass: true, coverageBranch: 0.93, mutationScore: 0.75,
                                     contracts: ContractResults(consumer: true, provider: true),
                                     manualReview: ManualReview(approvedBy: "alice")),
            now: JudgeJSON.parseISO8601("2026-11-25T12:00:00Z"))
        XCTAssertEqual(try Fixtures.encoded(request), recorded)
        XCTAssertEqual(try Fixtures.encoded(request)["now"], "2026-11-25T12:00:00Z")
        XCTAssertNil(try Fixtures.encoded(request)["candidates"])
    }

    func testJudgeRequestsBuiltInSwift() throws {
        let score = try Fixtures.json("judge_score.request.json")
        let prompt = try XCTUnwrap(score["prompt"]?.stringValue)
        let candidate = try XCTUnwrap(score["candidate"]?.stringValue)
        XCTAssertEqual(try Fixtures.encoded(JudgeScoreRequest(prompt: prompt, candidate: candidate)), score)
        let compare = try Fixtures.json("judge_compare.request.json")
        let request = JudgeCompareRequest(prompt: prompt, a: try XCTUnwrap(compare["a"]?.stringValue),
                                          b: try XCTUnwrap(compare["b"]?.stringValue))
        XCTAssertEqual(try Fixtures.encoded(request), compare)
    }

    func testChatRequestsBuiltInSwift() throws {
        var request = ChatCompletionRequest(model: "worker",
                                            messages: [.system("You review CAWS changes."),
                                                       .user("Summarise change FEAT-0042 in one line.")],
                                            maxTokens: 12, temperature: 0, seed: 7)
        XCTAssertEqual(try Fixtures.encoded(request), try Fixtures.json("chat_completion.request.json"))
        request.stream = true
        request.streamOptions = StreamOptions(includeUsage: true)
        XCTAssertEqual(try Fixtures.encoded(request), try Fixtures.json("chat_completion_stream.request.json"))
    }

    func testClaimifyRequestBuiltInSwift() throws {
        let recorded = try Fixtures.json("claimify.request.json")
        let manifest = try Fixtures.decode(ClaimifyRequest.self, "claimify.request.json").evidenceManifest
        let request = ClaimifyRequest(text: try XCTUnwrap(recorded["text"]?.stringValue),
                                      context: ClaimContext(priorText: "", change: "FEAT-0042", references: [:]),
                                      evidenceManifest: manifest)
        XCTAssertEqual(try Fixtures.encoded(request), recorded)
    }

    func testToolChoiceAndResponseFormat() throws {
        XCTAssertEqual(try Fixtures.encoded(ToolChoice.disabled), "none")
        XCTAssertEqual(try Fixtures.encoded(ToolChoice.function("lookup")),
                       ["type": "function", "function": ["name": "lookup"]])
        let format = ResponseFormat.structured(name: "verdict", schema: ["type": "object"])
        XCTAssertEqual(try Fixtures.encoded(format),
                       ["type": "json_schema", "json_schema": ["name": "verdict", "schema": ["type": "object"],
                                                               "strict": true]])
        let decoded = try JudgeJSON.makeDecoder().decode(ToolChoice.self, from: Data(#""required""#.utf8))
        XCTAssertEqual(decoded, .required)
    }
}
