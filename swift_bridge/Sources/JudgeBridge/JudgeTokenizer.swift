import Foundation

/// The errors of the on-device Judge and its tokenizer.
public enum JudgeModelError: Error, Sendable, LocalizedError {
    case missingFile(URL)
    case unsupportedTokenizer(String)
    case invalidContract(String)
    case prediction(String)

    public var errorDescription: String? {
        switch self {
        case .missingFile(let url):
            return "missing file: \(url.path)"
        case .unsupportedTokenizer(let reason):
            return "unsupported tokenizer: \(reason)"
        case .invalidContract(let reason):
            return "invalid export contract: \(reason)"
        case .prediction(let reason):
            return "prediction failed: \(reason)"
        }
    }
}

/// The project's byte-level BPE tokenizer, read from the Hugging Face `tokenizer.json` the training writes
/// (`modeling/tokenizer.py`): added (special) tokens are split out first, every digit is its own piece,
/// the GPT-2 pattern splits the rest, bytes map to the byte-level alphabet, and BPE merges apply by rank.
/// Encoding adds no special tokens, like `KSTokenizer.encode`.
public final class JudgeTokenizer: @unchecked Sendable {
    // Immutable after init; NSRegularExpression is immutable and safe to share between threads.
    private let vocab: [String: Int]
    private let ranks: [SymbolPair: Int]
    private let addedTokens: [(content: String, id: Int)]
    private let splitDigits: Bool
    private let pattern: NSRegularExpression
    private let byteSymbols: [String]

    public static let gpt2Pattern =
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    public convenience init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw JudgeModelError.missingFile(url)
        }
        let file = try JSONDecoder().decode(TokenizerFile.self, from: Data(contentsOf: url))
        try self.init(file: file)
    }

    init(file: TokenizerFile) throws {
        guard file.model.type == "BPE" else {
            throw JudgeModelError.unsupportedTokenizer("model type \(file.model.type), expected BPE")
        }
        vocab = file.model.vocab
        var ranks: [SymbolPair: Int] = [:]
        for (rank, merge) in file.model.merges.enumerated() where ranks[merge.pair] == nil {
            ranks[merge.pair] = rank
        }
        self.ranks = ranks
        addedTokens = file.addedTokens
            .map { (content: $0.content, id: $0.id) }
            .sorted { $0.content.count > $1.content.count }
        splitDigits = try JudgeTokenizer.checkPreTokenizer(file.preTokenizer)
        pattern = try NSRegularExpression(pattern: JudgeTokenizer.gpt2Pattern)
        byteSymbols = JudgeTokenizer.byteLevelAlphabet()
    }

    /// The id of an added token such as `<|bos|>`.
    public func id(ofAddedToken content: String) -> Int? {
        addedTokens.first { $0.content == content }?.id
    }

    public var vocabularySize: Int {
        vocab.count
    }

    /// Token ids of `text`, without special tokens added.
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in splitAddedTokens(text) {
            switch segment {
            case .added(let id):
                ids.append(id)
            case .text(let chunk):
                for piece in preTokenize(chunk) {
                    ids += bpe(piece)
                }
            }
        }
        return ids
    }

    // MARK: Steps

    private enum Segment {
        case added(Int)
        case text(Substring)
    }

    /// Added tokens match anywhere in the raw text, the earliest first, the longest among equals.
    private func splitAddedTokens(_ text: String) -> [Segment] {
        var segments: [Segment] = []
        var rest = text[...]
        while !rest.isEmpty {
            var best: (range: Range<Substring.Index>, id: Int)?
            for token in addedTokens {
                guard let range = rest.range(of: token.content) else {
                    continue
                }
                if best == nil || range.lowerBound < best!.range.lowerBound {
                    best = (range, token.id)
                }
            }
            guard let found = best else {
                segments.append(.text(rest))
                break
            }
            if found.range.lowerBound > rest.startIndex {
                segments.append(.text(rest[..<found.range.lowerBound]))
            }
            segments.append(.added(found.id))
            rest = rest[found.range.upperBound...]
        }
        return segments
    }

    /// Digits one by one (Unicode categories Nd, Nl, No), then the GPT-2 pattern on what lies between.
    private func preTokenize(_ text: Substring) -> [String] {
        var pieces: [String] = []
        var run = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if splitDigits && JudgeTokenizer.isNumeric(scalar) {
                if !run.isEmpty {
                    pieces += regexSplit(String(run))
                    run = String.UnicodeScalarView()
                }
                pieces.append(String(scalar))
            } else {
                run.append(scalar)
            }
        }
        if !run.isEmpty {
            pieces += regexSplit(String(run))
        }
        return pieces
    }

    /// The matches of the pattern, with any text between matches kept as pieces of its own.
    private func regexSplit(_ text: String) -> [String] {
        var pieces: [String] = []
        var cursor = text.startIndex
        let whole = NSRange(text.startIndex..<text.endIndex, in: text)
        for match in pattern.matches(in: text, range: whole) {
            guard let range = Range(match.range, in: text), !range.isEmpty else {
                continue
            }
            if range.lowerBound > cursor {
                pieces.append(String(text[cursor..<range.lowerBound]))
            }
            pieces.append(String(text[range]))
            cursor = range.upperBound
        }
        if cursor < text.endIndex {
            pieces.append(String(text[cursor...]))
        }
        return pieces
    }

    /// The byte-level symbols of a piece, merged by rank (the lowest first, the leftmost among equals).
    private func bpe(_ piece: String) -> [Int] {
        var symbols = piece.utf8.map { byteSymbols[Int($0)] }
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for index in 0..<(symbols.count - 1) {
                guard let rank = ranks[SymbolPair(symbols[index], symbols[index + 1])] else {
                    continue
                }
                if best == nil || rank < best!.rank {
                    best = (rank, index)
                }
            }
            guard let merge = best else {
                break
            }
            symbols[merge.index] += symbols[merge.index + 1]
            symbols.remove(at: merge.index + 1)
        }
        return symbols.flatMap { symbol -> [Int] in
            if let id = vocab[symbol] {
                return [id]
            }
            // Not in the vocabulary (a tokenizer trained without the full byte alphabet): its bytes one by one.
            return symbol.map { vocab[String($0)] }.compactMap { $0 }
        }
    }

    // MARK: Tables

    static func isNumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the others for code points from 256.
    static func byteLevelAlphabet() -> [String] {
        var table = [String](repeating: "", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            let code = printable ? UInt32(byte) : next
            if !printable {
                next += 1
            }
            table[byte] = String(Character(Unicode.Scalar(code)!))
        }
        return table
    }

    /// True when digits are split one by one; throws on a pre-tokenizer this encoder does not reproduce.
    static func checkPreTokenizer(_ value: JSONValue?) throws -> Bool {
        func isByteLevel(_ item: JSONValue) -> Bool {
            item["type"]?.stringValue == "ByteLevel" && item["add_prefix_space"]?.boolValue != true
                && item["use_regex"]?.boolValue != false
        }
        guard let value else {
            throw JudgeModelError.unsupportedTokenizer("no pre_tokenizer")
        }
        if isByteLevel(value) {
            return false
        }
        let steps = value["pretokenizers"]?.arrayValue ?? []
        if value["type"]?.stringValue == "Sequence", steps.count == 2,
            steps[0]["type"]?.stringValue == "Digits", steps[0]["individual_digits"]?.boolValue == true,
            isByteLevel(steps[1])
        {
            return true
        }
        throw JudgeModelError.unsupportedTokenizer("pre_tokenizer \(value), expected Digits + ByteLevel")
    }
}

struct SymbolPair: Hashable {
    let left: String
    let right: String

    init(_ left: String, _ right: String) {
        self.left = left
        self.right = right
    }
}

/// The parts of `tokenizer.json` the encoder reads.
struct TokenizerFile: Decodable {
    struct Model: Decodable {
        var type: String
        var vocab: [String: Int]
        var merges: [Merge]
    }

    struct AddedToken: Decodable {
        var id: Int
        var content: String
    }

    /// A merge is `"a b"` in older files and `["a", "b"]` in newer ones.
    struct Merge: Decodable {
        var pair: SymbolPair

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let parts = try? container.decode([String].self), parts.count == 2 {
                pair = SymbolPair(parts[0], parts[1])
                return
            }
            let text = try container.decode(String.self)
            guard let space = text.firstIndex(of: " ") else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "bad merge \(text)")
            }
            pair = SymbolPair(String(text[..<space]), String(text[text.index(after: space)...]))
        }
    }

    var model: Model
    var addedTokens: [AddedToken]
    var preTokenizer: JSONValue?

    enum CodingKeys: String, CodingKey {
        case model
        case addedTokens = "added_tokens"
        case preTokenizer = "pre_tokenizer"
    }
}
