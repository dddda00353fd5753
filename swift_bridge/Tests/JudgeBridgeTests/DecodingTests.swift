import Foundation
import XCTest

@testable import JudgeBridge

/// Every recorded response decodes into its model, with the values the service returned.
final class DecodingTests: XCTestCase {
    func testAdjudicateVerdict() throws {
        let verdict = try Fixtures.decode(Verdict.self, "adjudicate.response.json")
        XCTAssertEqual(verdict.status, .pass)
        XCTAssertTrue(verdict.verdictId.hasPrefix("CAWS-VERDICT-"))
        XCTAssertEqual(verdict.timestamp, JudgeJSON.parseISO8601("2026-11-25T12:00:00Z"))
        XCTAssertEqual(verdict.changeId, "FEAT-0042-r1")
        XCTAssertEqual(verdict.riskTier, 2)
        XCTAssertTrue(verdict.cawsCompliance.budgetAdherence.withinBudget)
        XCTAssertTrue(verdict.cawsCompliance.gateIntegrity.allGatesPass)
        XCTAssertEqual(verdict.clauseMappings.map(\.cawsClause), judgeClauses)
        XCTAssertEqual(verdict.candidates.count, 1)
        XCTAssertEqual(verdict.winnerCandidateId, verdict.candidates[0].candidateId)
        XCTAssertNotNil(verdict.models.judge)
        XCTAssertTrue((0...100).contains(verdict.trustScore))
        XCTAssertEqual(verdict.provenance.entryHash.count, 64)
        XCTAssertTrue(verdict.violations.isEmpty)
    }

    func testFailingVerdictCarriesItsViolation() throws {
        let verdict = try Fixtures.decode(Verdict.self, "adjudicate_failing.response.json")
        XCTAssertEqual(verdict.status, .fail)
        let violation = try XCTUnwrap(verdict.violations.first)
        XCTAssertEqual(violation.gate, "tests")
        XCTAssertFalse(violation.waivable)
        XCTAssertNil(violation.waivedBy)
        XCTAssertFalse(verdict.cawsCompliance.gateIntegrity.testsPass)
    }

    func testCandidatesVerdictNamesTheWinner() throws {
        let verdict = try Fixtures.decode(Verdict.self, "adjudicate_candidates.response.json")
        XCTAssertEqual(verdict.status, .pass)
        XCTAssertEqual(verdict.winnerCandidateId, "within")
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: verdict.candidates.map { ($0.candidateId, $0.superseded) }),
                       ["over": true, "within": false])
        XCTAssertEqual(verdict.candidates.first { $0.candidateId == "over" }?.status, .waiverRequired)
    }

    func testVerdictByIdIsThePersistedRecord() throws {
        let fetched = try Fixtures.decode(Verdict.self, "verdict.response.json")
        let adjudicated = try Fixtures.decode(Verdict.self, "adjudicate.response.json")
        XCTAssertEqual(fetched, adjudicated)
        XCTAssertEqual(fetched.id, adjudicated.verdictId)
    }

    func testClaimify() throws {
        let response = try Fixtures.decode(ClaimifyResponse.self, "claimify.response.json")
        XCTAssertEqual(response.sentences.count, 3)
        XCTAssertEqual(response.sentences.map(\.selected), [true, true, false])
        XCTAssertEqual(response.sentences[0].disambiguation.status, "resolved")
        XCTAssertNotNil(response.sentences[0].disambiguation.text)
        XCTAssertEqual(response.claims.map(\.id), response.sentences.flatMap(\.claims))
        let verification = try XCTUnwrap(response.claims.first?.verification)
        XCTAssertTrue((1...7).contains(verification.outcomeId))
        XCTAssertEqual(verification.fingerprint.count, 64)
        XCTAssertEqual(verification.entailmentTriage.support + verification.entailmentTriage.contradict
            + verification.entailmentTriage.insufficient, 1, accuracy: 1e-6)
        XCTAssertEqual(response.configFingerprint.count, 64)
    }

    func testJudgeScore() throws {
        let score = try Fixtures.decode(JudgeScore.self, "judge_score.response.json")
        XCTAssertTrue((0...1).contains(score.score))
        XCTAssertEqual(Set(score.clauses.keys), Set(judgeClauses))
        XCTAssertTrue(score.clauses.values.allSatisfy { (0...1).contains($0) })
    }

    func testJudgeCompareAgreesWithItsScores() throws {
        let comparison = try Fixtures.decode(JudgeComparison.self, "judge_compare.response.json")
        let (a, b) = (comparison.a.score, comparison.b.score)
        let expected: ComparisonVerdict = abs(a - b) < 1e-4 ? .tie : (a > b ? .a : .b)
        XCTAssertEqual(comparison.verdict, expected)
        XCTAssertEqual(Set(comparison.a.clauses.keys), Set(judgeClauses))
    }

    func testChatCompletion() throws {
        let completion = try Fixtures.decode(ChatCompletion.self, "chat_completion.response.json")
        XCTAssertEqual(completion.object, "chat.completion")
        XCTAssertEqual(completion.model, "worker")
        let choice = try XCTUnwrap(completion.choices.first)
        XCTAssertEqual(choice.message.role, .assistant)
        XCTAssertNotNil(choice.message.content)
        XCTAssertNotNil(choice.finishReason)
        XCTAssertEqual(completion.usage.promptTokens + completion.usage.completionTokens, completion.usage.totalTokens)
    }

    func testChatCompletionStream() throws {
        let events = ServerSentEventParser.events(in: try Fixtures.text("chat_completion_stream.response.sse"))
        XCTAssertEqual(events.last?.data, "[DONE]")
        let chunks = try events.dropLast().map {
            try JudgeJSON.makeDecoder().decode(ChatCompletionChunk.self, from: Data($0.data.utf8))
        }
        XCTAssertGreaterThan(chunks.count, 2)
        XCTAssertEqual(Set(chunks.map(\.id)).count, 1)
        XCTAssertTrue(chunks.allSatisfy { $0.object == "chat.completion.chunk" })
        XCTAssertEqual(chunks.first?.choices.first?.delta.role, .assistant)
        let usage = try XCTUnwrap(chunks.last?.usage)
        XCTAssertTrue(chunks.last?.choices.isEmpty ?? false)
        XCTAssertNotNil(chunks.dropLast().last?.choices.first?.finishReason)
        let text = chunks.compactMap { $0.choices.first?.delta.content }.joined()
        XCTAssertEqual(usage.promptTokens + usage.completionTokens, usage.totalTokens)
        XCTAssertFalse(text.isEmpty)
    }

    func testErrorObjects() throws {
        let invalid = try Fixtures.decode(APIErrorResponse.self, "error_invalid_request.response.json").error
        XCTAssertEqual(invalid.type, "invalid_request_error")
        XCTAssertEqual(invalid.param, "candidate")
        XCTAssertEqual(invalid.code, "invalid_value")
        let unauthorized = try Fixtures.decode(APIErrorResponse.self, "error_unauthorized.response.json").error
        XCTAssertEqual(unauthorized.type, "authentication_error")
        XCTAssertNil(unauthorized.param)
        XCTAssertEqual(unauthorized.code, "invalid_api_key")
    }

    func testUnknownFieldsAndValuesAreTolerated() throws {
        let body = #"{"verdict": "ABSTAIN", "a": {"score": 0.5, "clauses": {}, "new": 1}, "#
            + #""b": {"score": 1, "clauses": {"EVIDENCE_COMPLETENESS": 0.25}}, "latency_ms": 12}"#
        let comparison = try JudgeJSON.makeDecoder().decode(JudgeComparison.self, from: Data(body.utf8))
        XCTAssertEqual(comparison.verdict.rawValue, "ABSTAIN")
        XCTAssertEqual(comparison.b.score, 1)
        XCTAssertEqual(comparison.b.clauses["EVIDENCE_COMPLETENESS"], 0.25)
    }

    func testDatesWithFractionalSeconds() {
        XCTAssertEqual(JudgeJSON.parseISO8601("2026-11-25T12:00:00.250000+00:00")?.timeIntervalSince1970,
                       JudgeJSON.parseISO8601("2026-11-25T12:00:00Z").map { $0.timeIntervalSince1970 + 0.25 })
        XCTAssertNil(JudgeJSON.parseISO8601("25/11/2026"))
    }
}
