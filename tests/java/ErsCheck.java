// Checks RFC 4998 evidence records with Bouncy Castle's ERS implementation (org.bouncycastle.tsp.ers),
// a verifier nobody at the vault wrote. Compiled by tests/test_ers.py against Debian's libbcpkix-java.
//
//   java -cp <dir>:bcprov.jar:bcutil.jar:bcpkix.jar ErsCheck [--bc-only] CA.pem RECORD DATA [RECORD DATA ...]
//
// CA.pem holds the TSA trust anchors (one or more PEM certificates). For each RECORD (DER
// EvidenceRecord) and DATA (the data object, e.g. evidence.json) it prints one line,
// "OK RECORD: ..." or "FAIL RECORD: reason"; the exit code is 0 when all are OK, 1 otherwise,
// 2 on a usage error. --bc-only runs steps 1-3 only: what Bouncy Castle checks by itself.
//
// Per record:
//  1. new ERSEvidenceRecord(...): BC's own parse, and its check of the renewal links inside each chain;
//  2. validatePresent(data, now): BC's check that the data is covered (BC 1.72 checks the last chain only);
//  3. validate(verifier of the last token): BC's check of the last token, which also requires the last
//     archive timestamp of the last chain to cover every earlier timestamp of that chain;
//  4. our own walk over every chain and archive timestamp, with BC's ERSArchiveTimeStamp.validatePresent:
//     the first timestamp of chain 0 covers H(data), the first of chain k > 0 covers
//     H(H(data) || H(DER of chains 0..k-1)) (RFC 4998 5.2, hash-tree renewal), every later timestamp
//     covers H(previous timeStamp) (timestamp renewal); one digest algorithm per chain;
//  5. every token: its signer certificate (from the token) issued by one of the anchors, which was valid
//     at genTime, and TimeStampToken.validate (signature, ESS certificate ID, timeStamping EKU,
//     certificate validity at genTime).

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.List;

import org.bouncycastle.asn1.ASN1EncodableVector;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.DERSequence;
import org.bouncycastle.asn1.tsp.ArchiveTimeStamp;
import org.bouncycastle.asn1.tsp.ArchiveTimeStampChain;
import org.bouncycastle.asn1.tsp.EvidenceRecord;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateHolder;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.DigestCalculator;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.tsp.ers.ERSArchiveTimeStamp;
import org.bouncycastle.tsp.ers.ERSByteData;
import org.bouncycastle.tsp.ers.ERSEvidenceRecord;

public class ErsCheck {
    private static DigestCalculatorProvider digests;
    private static List<X509CertificateHolder> anchors = new ArrayList<>();

    private static boolean bcOnly = false;

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--bc-only")) {
            bcOnly = true;
            args = java.util.Arrays.copyOfRange(args, 1, args.length);
        }
        if (args.length < 3 || args.length % 2 != 1) {
            System.err.println("usage: ErsCheck [--bc-only] CA.pem RECORD DATA [RECORD DATA ...]");
            System.exit(2);
        }
        Security.addProvider(new BouncyCastleProvider());
        digests = new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
        try (InputStream in = new FileInputStream(args[0])) {
            for (java.security.cert.Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                anchors.add(new JcaX509CertificateHolder((X509Certificate) c));
            }
        }
        boolean allOk = true;
        for (int i = 1; i < args.length; i += 2) {
            String name = args[i];
            try {
                String what = check(Files.readAllBytes(Paths.get(args[i])), Files.readAllBytes(Paths.get(args[i + 1])));
                System.out.println("OK " + name + ": " + what);
            } catch (Exception e) {
                allOk = false;
                String msg = e.getClass().getSimpleName() + ": " + e.getMessage();
                if (e.getCause() != null) {
                    msg += " (" + e.getCause() + ")";
                }
                System.out.println("FAIL " + name + ": " + msg.replace('\n', ' '));
            }
        }
        System.exit(allOk ? 0 : 1);
    }

    private static byte[] hash(AlgorithmIdentifier alg, byte[]... parts) throws Exception {
        DigestCalculator calc = digests.get(alg);
        try (OutputStream out = calc.getOutputStream()) {
            for (byte[] p : parts) {
                out.write(p);
            }
        }
        return calc.getDigest();
    }

    private static String check(byte[] ers, byte[] data) throws Exception {
        Date now = new Date();
        EvidenceRecord record = EvidenceRecord.getInstance(ers);
        // 1-2: Bouncy Castle's own record-level checks
        ERSEvidenceRecord er = new ERSEvidenceRecord(record, digests);
        er.validatePresent(new ERSByteData(data), now);
        // 3: BC's check of the last token (and of the last chain's coverage of its earlier timestamps)
        X509CertificateHolder last = er.getSigningCertificate();
        if (last == null) {
            throw new Exception("the last token carries no signer certificate");
        }
        er.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(last));
        if (bcOnly) {
            return "Bouncy Castle's own checks pass";
        }
        // 4-5: every chain, every archive timestamp, every token
        ArchiveTimeStampChain[] chains = record.getArchiveTimeStampSequence().getArchiveTimeStampChains();
        int total = 0;
        for (int k = 0; k < chains.length; k++) {
            ArchiveTimeStamp[] stamps = chains[k].getArchiveTimestamps();
            AlgorithmIdentifier alg = stamps[0].getDigestAlgorithmIdentifier();
            for (int j = 0; j < stamps.length; j++) {
                String where = "chain " + (k + 1) + " timestamp " + (j + 1);
                if (!alg.equals(stamps[j].getDigestAlgorithmIdentifier())) {
                    throw new Exception(where + ": another digest algorithm than its chain's");
                }
                byte[] expected;
                if (j > 0) {
                    expected = hash(alg, stamps[j - 1].getTimeStamp().getEncoded(ASN1Encoding.DER));
                } else if (k == 0) {
                    expected = hash(alg, data);
                } else {
                    ASN1EncodableVector earlier = new ASN1EncodableVector();
                    for (int c = 0; c < k; c++) {
                        earlier.add(chains[c]);
                    }
                    byte[] atsc = hash(alg, new DERSequence(earlier).getEncoded(ASN1Encoding.DER));
                    expected = hash(alg, hash(alg, data), atsc);
                }
                ERSArchiveTimeStamp ats = new ERSArchiveTimeStamp(stamps[j], digests);
                try {
                    ats.validatePresent(false, expected, now);
                } catch (Exception e) {
                    throw new Exception(where + " does not cover what it must: " + e.getMessage(), e);
                }
                validateToken(where, new TimeStampToken(stamps[j].getTimeStamp()));
                total++;
            }
        }
        return chains.length + " chain(s), " + total + " archive timestamp(s)";
    }

    private static void validateToken(String where, TimeStampToken token) throws Exception {
        Collection<X509CertificateHolder> found = token.getCertificates().getMatches(token.getSID());
        if (found.isEmpty()) {
            throw new Exception(where + ": the token carries no signer certificate");
        }
        X509CertificateHolder signer = found.iterator().next();
        Date genTime = token.getTimeStampInfo().getGenTime();
        boolean anchored = false;
        for (X509CertificateHolder ca : anchors) {
            if (ca.getSubject().equals(signer.getIssuer()) && ca.isValidOn(genTime)
                    && signer.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider("BC").build(ca))) {
                anchored = true;
                break;
            }
        }
        if (!anchored) {
            throw new Exception(where + ": the TSA certificate " + signer.getSubject() + " is not issued by a trusted anchor");
        }
        try {
            token.validate(new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(signer));
        } catch (Exception e) {
            throw new Exception(where + ": token invalid: " + e.getMessage(), e);
        }
    }
}
