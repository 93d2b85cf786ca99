import ReadingListModel

/// Bearer tokens: `rl_` and 64 random hex digits, stored only as their SHA-256.
public enum Tokens {
    /// A fresh token from the system's cryptographic random source.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return "rl_" + String((0..<64).map { _ in digits[Int.random(in: 0..<16, using: &generator)] })
    }

    /// What the server stores and looks tokens up by.
    public static func hash(_ token: String) -> String { SHA256.hex(token) }
}
