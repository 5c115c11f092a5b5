using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Escrow.EventStore;

/// <summary>
/// Personal data as it is stored: a string field of an event, a snapshot, a read model or a stored answer whose value is
/// an <b>envelope</b> <c>pii:v1;{tenant};{subject}[,{subject}…];{sealed}</c>, where <c>sealed</c> is the unpadded base64url of
/// a 12-byte nonce, the AES-256-GCM ciphertext of the UTF-8 text and its 16-byte tag. The key is HKDF-SHA256 of the data
/// subjects' keys (32 bytes each, <see cref="SubjectKeyStore"/>) in the order listed, so the text is readable only while
/// every subject named still has its key: erasing any one of them erases it. The header (everything before the sealed
/// part) is the additional authenticated data, so an envelope cannot be relabelled to other subjects.
/// <para>Deterministic: the nonce is the first 12 bytes of HMAC-SHA256 of the text under a second key derived apart (the synthetic-IV
/// construction of RFC 5297 with GCM), so the same text under the same subjects always seals to the same envelope. That
/// keeps a retried command byte-identical and lets the payment aggregate compare a re-delivered pacs.008's fingerprint
/// with the stored one; it reveals that two sealed values are equal, nothing more.</para>
/// <para>Subject ids are 1–128 of <c>A–Z a–z 0–9 . _ : -</c>: opaque references (a customer number), never the personal
/// data itself (no names, no e-mail addresses).</para>
/// </summary>
public static partial class PersonalData
{
    /// <summary>What every envelope starts with.</summary>
    public const string Prefix = "pii:v1;";

    /// <summary>What a reader sees where a sealed value's subject was erased.</summary>
    public const string Erased = "[erased]";

    /// <summary>What a reader sees where a sealed value does not open (a forged or damaged envelope, a key that never existed).</summary>
    public const string Unreadable = "[unreadable]";

    private const int NonceBytes = 12, TagBytes = 16, KeyBytes = 32;

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex SubjectPattern();

    /// <summary>An envelope anywhere in a text (an answer's JSON, a CSV, an XML message).</summary>
    [GeneratedRegex(@"pii:v1;[a-z0-9-]{1,32};[A-Za-z0-9._:-]{1,128}(?:,[A-Za-z0-9._:-]{1,128}){0,7};[A-Za-z0-9_-]{38,}")]
    public static partial Regex EnvelopePattern();

    /// <summary>Whether <paramref name="subject"/> is a well-formed subject id.</summary>
    public static bool IsSubjectId(string? subject) => subject is not null && SubjectPattern().IsMatch(subject);

    /// <summary>
    /// A subject id made from an identifier that may hold other characters (an IBAN with spaces, a proprietary account id):
    /// <paramref name="prefix"/> followed by the identifier with every other character replaced by '_', at most 128 long.
    /// </summary>
    public static string SubjectIdOf(string prefix, string identifier)
    {
        var chars = (prefix + identifier).Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-' ? c : '_').ToArray();
        return new string(chars, 0, Math.Min(chars.Length, 128));
    }

    /// <summary>Whether <paramref name="value"/> is (shaped like) an envelope.</summary>
    public static bool IsSealed(string? value) => value is not null && value.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The tenant and subjects an envelope names, or false when it is not one.</summary>
    public static bool TryParse(string value, out string tenant, out string[] subjects)
    {
        tenant = "";
        subjects = [];
        if (!IsSealed(value)) return false;
        var parts = value.Split(';');
        if (parts.Length != 4) return false;
        tenant = parts[1];
        subjects = parts[2].Split(',');
        return subjects.All(IsSubjectId);
    }

    /// <summary>
    /// Seals <paramref name="text"/> for <paramref name="subjects"/> (with their <paramref name="keys"/>, same order). A null
    /// or blank text, and a text that already is an envelope, are returned as they are (so validation of blank fields still
    /// sees them, and a value sealed earlier — a proxy directory's creditor name — is not sealed twice).
    /// </summary>
    public static string? Seal(string tenant, IReadOnlyList<string> subjects, IReadOnlyList<byte[]> keys, string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || IsSealed(text)) return text;
        var header = Header(tenant, subjects);
        var (key, nonceKey) = FieldKeys(header, keys);
        var plain = Encoding.UTF8.GetBytes(text);
        var sealedBytes = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = sealedBytes.AsSpan(0, NonceBytes);
        HMACSHA256.HashData(nonceKey, plain).AsSpan(0, NonceBytes).CopyTo(nonce);
        using (var gcm = new AesGcm(key, TagBytes))
            gcm.Encrypt(nonce, plain, sealedBytes.AsSpan(NonceBytes, plain.Length), sealedBytes.AsSpan(NonceBytes + plain.Length), Encoding.ASCII.GetBytes(header));
        return header + Base64Url.EncodeToString(sealedBytes);
    }

    /// <summary>
    /// Opens an envelope with its subjects' keys (<paramref name="keys"/>: subject → key, null once erased). Answers the text,
    /// <see cref="Erased"/> when a subject's key is destroyed, <see cref="Unreadable"/> when the envelope does not open.
    /// </summary>
    public static string Open(string envelope, Func<string, byte[]?> keys, Func<string, bool> erased)
    {
        if (!TryParse(envelope, out var tenant, out var subjects)) return Unreadable;
        var found = new byte[subjects.Length][];
        for (var i = 0; i < subjects.Length; i++)
        {
            if (erased(subjects[i])) return Erased;
            if (keys(subjects[i]) is not { Length: KeyBytes } k) return Unreadable;
            found[i] = k;
        }
        var header = Header(tenant, subjects);
        byte[] sealedBytes;
        try
        {
            sealedBytes = Base64Url.DecodeFromChars(envelope.AsSpan(header.Length));
        }
        catch (FormatException)
        {
            return Unreadable;
        }
        if (sealedBytes.Length < NonceBytes + TagBytes) return Unreadable;
        var plain = new byte[sealedBytes.Length - NonceBytes - TagBytes];
        try
        {
            using var gcm = new AesGcm(FieldKeys(header, found).Key, TagBytes);
            gcm.Decrypt(sealedBytes.AsSpan(0, NonceBytes), sealedBytes.AsSpan(NonceBytes, plain.Length), sealedBytes.AsSpan(NonceBytes + plain.Length), plain,
                Encoding.ASCII.GetBytes(header));
        }
        catch (AuthenticationTagMismatchException)
        {
            return Unreadable;
        }
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>A fresh subject key (32 random bytes).</summary>
    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeyBytes);

    private static string Header(string tenant, IReadOnlyList<string> subjects) => $"{Prefix}{tenant};{string.Join(',', subjects)};";

    /// <summary>The AES-256-GCM key of a value and, apart from it, the HMAC key its synthetic nonce is made with.</summary>
    private static (byte[] Key, byte[] NonceKey) FieldKeys(string header, IReadOnlyList<byte[]> keys)
    {
        var ikm = new byte[keys.Count * KeyBytes];
        for (var i = 0; i < keys.Count; i++) keys[i].CopyTo(ikm, i * KeyBytes);
        return (HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, KeyBytes, salt: [], info: Encoding.ASCII.GetBytes(header + "aes-256-gcm")),
                HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, KeyBytes, salt: [], info: Encoding.ASCII.GetBytes(header + "synthetic-nonce")));
    }
}
