import Crypto
import ReadingListModel

/// Bearer tokens: `rl_` and 64 random hex digits, stored only as their SHA-256.
public enum Tokens {
    /// A fresh token from the system's cryptographic random source.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return "rl_" + String((0..<64).map { _ in digits[Int.random(in: 0..<16, using: &generator)] })
    }

    /// What the server stores and looks tokens up by: the SHA-256 of the token's
    /// UTF-8 bytes (swift-crypto), in lowercase hex.
    public static func hash(_ token: String) -> String {
        let digest = Crypto.SHA256.hash(data: Array(token.utf8))
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in digest {
            hex.append(hexDigits[Int(byte >> 4)])
            hex.append(hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
