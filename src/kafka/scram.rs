//! SCRAM client (RFC 5802, RFC 7677) for SCRAM-SHA-256 and SCRAM-SHA-512.
//!
//! Owns: the three SCRAM messages and the check of the server's signature.
//! Must never: send the password itself, or accept a server that cannot prove
//! it knows the stored key (a missing or wrong `v=` is an error).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Hash::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec(),
            Hash::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec(),
        }
    }
}

/// Kafka accepts at least 4096 iterations; a server asking for more than this is not one we trust.
const MAX_ITERATIONS: u32 = 1_000_000;

/// One SCRAM conversation, client side.
pub struct Scram {
    hash: Hash,
    client_first_bare: String,
    nonce: String,
    password: String,
    server_signature: Option<Vec<u8>>,
}

impl Scram {
    /// Starts a conversation with a fresh random nonce.
    pub fn new(hash: Hash, username: &str, password: &str) -> Self {
        let nonce_bytes: [u8; 24] = rand::random();
        Scram::with_nonce(hash, username, password, &B64.encode(nonce_bytes))
    }

    fn with_nonce(hash: Hash, username: &str, password: &str, nonce: &str) -> Self {
        let name = username.replace('=', "=3D").replace(',', "=2C");
        Scram {
            hash,
            client_first_bare: format!("n={name},r={nonce}"),
            nonce: nonce.to_string(),
            password: password.to_string(),
            server_signature: None,
        }
    }

    /// The client-first message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Reads the server-first message and returns the client-final message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, String> {
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| "server-first message is not UTF-8".to_string())?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for field in server_first.split(',') {
            match field.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(B64.decode(v).map_err(|_| "server salt is not base64".to_string())?),
                Some(("i", v)) => iterations = v.parse::<u32>().ok(),
                Some(("e", v)) => return Err(format!("server refused: {v}")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or("server-first message without nonce")?;
        let salt = salt.ok_or("server-first message without salt")?;
        let iterations = iterations.ok_or("server-first message without a valid iteration count")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("server nonce does not extend ours".into());
        }
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(format!("implausible iteration count {iterations}"));
        }
        let salted = self.hash.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let server_key = self.hash.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hash.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server must prove it knows our key.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final).map_err(|_| "server-final message is not UTF-8".to_string())?;
        if let Some(error) = text.strip_prefix("e=") {
            return Err(format!("server refused: {error}"));
        }
        let given = text.split(',').find_map(|f| f.strip_prefix("v=")).ok_or("server-final message without `v=`")?;
        let given = B64.decode(given).map_err(|_| "server signature is not base64".to_string())?;
        match &self.server_signature {
            Some(expected) if *expected == given => Ok(()),
            Some(_) => Err("the server's signature is wrong: it does not know this user's key".into()),
            None => Err("server-final message before server-first".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_sha256_vector() {
        let mut scram = Scram::with_nonce(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(scram.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.client_final(server_first).unwrap();
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        assert!(scram.verify(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").is_err());
        assert!(scram.verify(b"e=invalid-proof").unwrap_err().contains("invalid-proof"));
    }

    #[test]
    fn rfc5802_sha1_style_names_are_escaped_and_bad_servers_refused() {
        let mut scram = Scram::with_nonce(Hash::Sha512, "a=b,c", "pw", "abc");
        assert_eq!(scram.client_first(), b"n,,n=a=3Db=2Cc,r=abc");
        assert!(scram.client_final(b"r=xyz123,s=QUJD,i=4096").unwrap_err().contains("nonce"));
        assert!(scram.client_final(b"r=abc123,s=QUJD,i=0").unwrap_err().contains("iteration"));
        assert!(scram.client_final(b"r=abc123,i=4096").unwrap_err().contains("salt"));
        assert!(scram.client_final(b"r=abc123,s=QUJD,i=4096").is_ok());
        assert!(scram.verify(b"nonsense").is_err());
    }
}
