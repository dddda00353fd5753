import Foundation
import XCTest

@testable import JudgeBridge

/// Canned HTTP answers for a `URLSession`, in order; records the requests it saw.
final class StubProtocol: URLProtocol {
    struct Answer {
        var status: Int
        var headers: [String: String] = ["Content-Type": "application/json"]
        var body: Data
    }

    private static let lock = NSLock()
    private static var answers: [Answer] = []
    private static var seen: [URLRequest] = []

    static func reset(_ queued: [Answer]) {
        lock.lock()
        defer { lock.unlock() }
        answers = queued
        seen = []
    }

    static var requests: [URLRequest] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }

    private static func next(for request: URLRequest) -> Answer? {
        lock.lock()
        defer { lock.unlock() }
        seen.append(request)
        return answers.isEmpty ? nil : answers.removeFirst()
    }

    override class func canInit(with request: URLRequest) -> Bool {
        true
    }

    override class func canonicalRequest(for request: URLRequest) -> URLRequest {
        request
    }

    override func startLoading() {
        guard let answer = StubProtocol.next(for: request), let url = request.url,
            let response = HTTPURLResponse(url: url, statusCode: answer.status, httpVersion: "HTTP/1.1",
                                           headerFields: answer.headers)
        else {
            client?.urlProtocol(self, didFailWithError: URLError(.cannotConnectToHost))
            return
        }
        client?.urlProtocol(self, didReceive: response, cacheStoragePolicy: .notAllowed)
        client?.urlProtocol(self, didLoad: answer.body)
        client?.urlProtocolDidFinishLoading(self)
    }

    override func stopLoading() {}
}

final class ClientTests: XCTestCase {
    private func client(maxRetries: Int = 3) -> JudgeClient {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.protocolClasses = [StubProtocol.self]
        let settings = JudgeClientConfiguration(baseURL: URL(string: "http://127.0.0.1:8000")!, apiKey: "ks-test",
                                                maxRetries: maxRetries, maxRetryDelay: 5)
        return JudgeClient(configuration: settings, session: URLSession(configuration: configuration))
    }

    private func rateLimited(retryAfter: String) -> StubProtocol.Answer {
        let body = #"{"error": {"message": "rate limit", "type": "rate_limit_error", "param": null, "#
            + #""code": "rate_limited"}}"#
        return StubProtocol.Answer(status: 429, headers: ["Content-Type": "application/json",
                                                          "Retry-After": retryAfter],
                                   body: Data(body.utf8))
    }

    func testRetriesA429AfterRetryAfterAndSendsTheKey() async throws {
        StubProtocol.reset([rateLimited(retryAfter: "0"),
                            .init(status: 200, body: try Fixtures.data("judge_score.response.json"))])
        let score = try await client().score(prompt: "p", candidate: "c")
        XCTAssertEqual(Set(score.clauses.keys), Set(judgeClauses))
        let requests = StubProtocol.requests
        XCTAssertEqual(requests.count, 2)
        XCTAssertEqual(requests[0].value(forHTTPHeaderField: "Authorization"), "Bearer ks-test")
        XCTAssertEqual(requests[0].url?.path, "/caws/judge/score")
        XCTAssertEqual(requests[0].httpMethod, "POST")
    }

    func testARetryAfterLongerThanTheLimitFailsAtOnce() async throws {
        StubProtocol.reset([rateLimited(retryAfter: "120")])
        do {
            _ = try await client().score(prompt: "p", candidate: "c")
            XCTFail("expected a 429")
        } catch JudgeBridgeError.api(let status, let error, let retryAfter) {
            XCTAssertEqual(status, 429)
            XCTAssertEqual(error.code, "rate_limited")
            XCTAssertEqual(retryAfter, 120)
        }
        XCTAssertEqual(StubProtocol.requests.count, 1)
    }

    func testErrorsDecodeTheErrorObject() async throws {
        StubProtocol.reset([.init(status: 401, body: try Fixtures.data("error_unauthorized.response.json"))])
        do {
            _ = try await client().verdict(id: "CAWS-VERDICT-0000000000000000")
            XCTFail("expected a 401")
        } catch let error as JudgeBridgeError {
            XCTAssertEqual(error.status, 401)
            XCTAssertFalse(error.isRetryable)
            guard case .api(_, let object, _) = error else {
                return XCTFail("expected an API error, got \(error)")
            }
            XCTAssertEqual(object.type, "authentication_error")
        }
        XCTAssertEqual(StubProtocol.requests.first?.url?.path, "/caws/verdicts/CAWS-VERDICT-0000000000000000")
        XCTAssertEqual(StubProtocol.requests.first?.httpMethod, "GET")
    }

    func testAdjudicateSendsTheIdempotencyKey() async throws {
        StubProtocol.reset([.init(status: 200, body: try Fixtures.data("adjudicate.response.json"))])
        let request = try Fixtures.decode(AdjudicateRequest.self, "adjudicate.request.json")
        let verdict = try await client().adjudicate(request, idempotencyKey: "ios-7f3c2a")
        XCTAssertEqual(verdict.status, .pass)
        XCTAssertEqual(StubProtocol.requests.first?.value(forHTTPHeaderField: "Idempotency-Key"), "ios-7f3c2a")
    }

    func testStreamYieldsEveryChunk() async throws {
        let body = try Fixtures.data("chat_completion_stream.response.sse")
        StubProtocol.reset([.init(status: 200, headers: ["Content-Type": "text/event-stream"], body: body)])
        let request = try Fixtures.decode(ChatCompletionRequest.self, "chat_completion.request.json")
        var chunks: [ChatCompletionChunk] = []
        for try await chunk in client().chatCompletionStream(request) {
            chunks.append(chunk)
        }
        let events = ServerSentEventParser.events(in: String(decoding: body, as: UTF8.self))
        XCTAssertEqual(chunks.count, events.count - 1)
        XCTAssertNotNil(chunks.last?.usage)
    }

    func testStreamRetriesA503() async throws {
        let body = try Fixtures.data("chat_completion_stream.response.sse")
        let busy = #"{"error": {"message": "queue full", "type": "service_unavailable_error", "#
            + #""param": null, "code": null}}"#
        StubProtocol.reset([.init(status: 503, headers: ["Retry-After": "0"], body: Data(busy.utf8)),
                            .init(status: 200, headers: ["Content-Type": "text/event-stream"], body: body)])
        let request = try Fixtures.decode(ChatCompletionRequest.self, "chat_completion.request.json")
        var count = 0
        for try await _ in client().chatCompletionStream(request) {
            count += 1
        }
        XCTAssertGreaterThan(count, 0)
        XCTAssertEqual(StubProtocol.requests.count, 2)
    }

    func testParseRetryAfter() {
        XCTAssertEqual(JudgeClient.parseRetryAfter("3"), 3)
        let now = Date(timeIntervalSince1970: 1_793_000_000)
        let later = HTTPDate.format(now.addingTimeInterval(7))
        XCTAssertEqual(JudgeClient.parseRetryAfter(later, now: now) ?? -1, 7, accuracy: 1)
        XCTAssertNil(JudgeClient.parseRetryAfter("soon"))
    }
}

/// RFC 9110 dates (`Sun, 06 Nov 1994 08:49:37 GMT`), to build Retry-After headers in tests.
enum HTTPDate {
    static func format(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
