// judge-cli: the JudgeBridge package from the command line.
//
//   judge-cli [--url URL] [--key KEY] COMMAND ...
//
//   adjudicate REQUEST.json [--idempotency-key KEY]   POST /caws/adjudicate, prints the verdict
//   verdict VERDICT_ID                                GET /caws/verdicts/{id}
//   claimify TEXT [--manifest MANIFEST.json]          POST /caws/claimify
//   score PROMPT CANDIDATE                            POST /caws/judge/score
//   compare PROMPT A B                                POST /caws/judge/compare
//   chat MESSAGE [--model worker] [--max-tokens N] [--stream]
//   local-score EXPORT_DIR PROMPT CANDIDATE           the Core ML Judge on this Mac (macOS 15+)
//
// The URL defaults to $KS_URL or http://127.0.0.1:8000, the key to $KS_API_KEY.

import Foundation
import JudgeBridge

struct UsageError: Error, CustomStringConvertible {
    let description: String
}

/// Command-line arguments: `--name value` options (and `--stream` alone) apart from the positional ones.
struct Arguments {
    var positional: [String] = []
    var options: [String: String] = [:]
    var flags: Set<String> = []

    init(_ raw: [String]) throws {
        var index = 0
        while index < raw.count {
            let argument = raw[index]
            if argument == "--stream" {
                flags.insert("stream")
            } else if argument.hasPrefix("--") {
                guard index + 1 < raw.count else {
                    throw UsageError(description: "\(argument) needs a value")
                }
                options[String(argument.dropFirst(2))] = raw[index + 1]
                index += 1
            } else {
                positional.append(argument)
            }
            index += 1
        }
    }

    func values(_ count: Int, _ usage: String) throws -> [String] {
        guard positional.count == count + 1 else {
            throw UsageError(description: "usage: judge-cli \(usage)")
        }
        return Array(positional.dropFirst())
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JudgeJSON.makeEncoder()
    encoder.outputFormatting.insert(.prettyPrinted)
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func readJSON<T: Decodable>(_ type: T.Type, path: String) throws -> T {
    try JudgeJSON.makeDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
}

func run(_ arguments: Arguments) async throws {
    let environment = ProcessInfo.processInfo.environment
    let urlText = arguments.options["url"] ?? environment["KS_URL"] ?? "http://127.0.0.1:8000"
    guard let baseURL = URL(string: urlText) else {
        throw UsageError(description: "not a URL: \(urlText)")
    }
    let client = JudgeClient(baseURL: baseURL, apiKey: arguments.options["key"] ?? environment["KS_API_KEY"])
    switch arguments.positional.first {
    case "adjudicate":
        let path = try arguments.values(1, "adjudicate REQUEST.json [--idempotency-key KEY]")[0]
        let request = try readJSON(AdjudicateRequest.self, path: path)
        try printJSON(try await client.adjudicate(request, idempotencyKey: arguments.options["idempotency-key"]))
    case "verdict":
        let id = try arguments.values(1, "verdict VERDICT_ID")[0]
        try printJSON(try await client.verdict(id: id))
    case "claimify":
        let text = try arguments.values(1, "claimify TEXT [--manifest MANIFEST.json]")[0]
        let manifest = try arguments.options["manifest"].map { try readJSON(EvidenceManifest.self, path: $0) }
        try printJSON(try await client.claimify(ClaimifyRequest(text: text, evidenceManifest: manifest)))
    case "score":
        let values = try arguments.values(2, "score PROMPT CANDIDATE")
        try printJSON(try await client.score(prompt: values[0], candidate: values[1]))
    case "compare":
        let values = try arguments.values(3, "compare PROMPT A B")
        try printJSON(try await client.compare(prompt: values[0], a: values[1], b: values[2]))
    case "chat":
        let message = try arguments.values(1, "chat MESSAGE [--model worker] [--max-tokens N] [--stream]")[0]
        let request = ChatCompletionRequest(model: arguments.options["model"] ?? "worker",
                                            messages: [.user(message)],
                                            maxTokens: arguments.options["max-tokens"].flatMap { Int($0) })
        if arguments.flags.contains("stream") {
            for try await chunk in client.chatCompletionStream(request) {
                if let text = chunk.choices.first?.delta.content {
                    FileHandle.standardOutput.write(Data(text.utf8))
                }
                if let usage = chunk.usage {
                    print("\n[\(usage.promptTokens) prompt + \(usage.completionTokens) completion tokens]")
                }
            }
        } else {
            let completion = try await client.chatCompletion(request)
            print(completion.choices.first?.message.content ?? "")
        }
    case "local-score":
        let values = try arguments.values(3, "local-score EXPORT_DIR PROMPT CANDIDATE")
        try await localScore(directory: values[0], prompt: values[1], candidate: values[2])
    default:
        throw UsageError(description: "commands: adjudicate, verdict, claimify, score, compare, chat, local-score")
    }
}

func localScore(directory: String, prompt: String, candidate: String) async throws {
    #if canImport(CoreML)
    guard #available(macOS 15.0, iOS 18.0, *) else {
        throw UsageError(description: "the Core ML Judge needs macOS 15")
    }
    let judge = try await CoreMLJudge.load(exportDirectory: URL(fileURLWithPath: directory))
    try printJSON(try await judge.score(prompt: prompt, candidate: candidate))
    #else
    throw UsageError(description: "Core ML is not available on this platform")
    #endif
}

do {
    try await run(try Arguments(Array(CommandLine.arguments.dropFirst())))
} catch let error as UsageError {
    FileHandle.standardError.write(Data("\(error.description)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("judge-cli: \(error.localizedDescription)\n".utf8))
    exit(1)
}
