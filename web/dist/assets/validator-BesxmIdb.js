import{c1 as i}from"./index-BER09gJ2.js";const n=o=>["",...i].includes(o);export{n as i};
